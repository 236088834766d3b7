"""Build a model from a spec and a key set size, and (de)serialise it with its spec."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from amips.fingerprint import array_digest, tensors_digest
from amips.io import InputError, atomic_path
from amips.models.homogenize import homogenizer_class
from amips.models.networks import AmipsModel, KeyNet, SupportNet
from amips.models.sizing import exact_parameter_count, parameter_budget, solve_width
from amips.models.spec import ModelSpec

log = logging.getLogger("amips.models")


def resolve_width(spec: ModelSpec, dim: int, num_keys: int) -> int:
    """Hidden width: ``spec.width`` or solved from ``parameters_fraction × num_keys × dim``."""
    if spec.width is not None:
        return spec.width
    out_dim = dim if spec.kind == "keynet" else spec.num_outputs
    budget = parameter_budget(spec.parameters_fraction, num_keys, dim)
    use_bias = homogenizer_class(spec.homogenization, spec.kind).net_spec(spec).use_bias
    return solve_width(budget, dim, out_dim, spec.depth, spec.wx_inject, use_bias, spec.budget_rule)


def build_model(spec: ModelSpec, dim: int, num_keys: int, seed: int = 0) -> AmipsModel:
    """Instantiate the model of ``spec`` for d = ``dim``; parameters drawn from a generator seeded with seed + 1."""
    width = resolve_width(spec, dim, num_keys)
    generator = torch.Generator().manual_seed(seed + 1)
    cls = SupportNet if spec.kind == "supportnet" else KeyNet
    return cls(spec, dim, width, generator)


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def expected_parameter_count(spec: ModelSpec, dim: int, width: int) -> int:
    """Parameters of the inner network (as built under the wrapper's constraints) plus the wrapper's own."""
    out_dim = spec.num_outputs if spec.kind == "supportnet" else dim * spec.num_outputs
    wrapper = homogenizer_class(spec.homogenization, spec.kind)
    net = exact_parameter_count(dim, width, spec.depth, out_dim, spec.wx_inject, wrapper.net_spec(spec).use_bias)
    return net + wrapper.extra_parameters(dim)


def model_payload(model: AmipsModel, num_keys: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything needed to rebuild ``model``: spec, dim, width, key count, weights and their digest."""
    state = model.state_dict()
    return {
        "format": "amips-model-v1",
        "spec": model.spec.to_dict(),
        "dim": model.dim,
        "width": model.width,
        "num_keys": num_keys,
        "state_dict": state,
        "weights_sha256": tensors_digest(state),
        **(extra or {}),
    }


def save_payload(path: str | Path, payload: dict[str, Any]) -> None:
    """``torch.save`` atomically, through a Python file so that write failures (disk full) raise ``OSError``."""
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        torch.save(payload, fh)


def save_model(path: str | Path, model: AmipsModel, num_keys: int, extra: dict[str, Any] | None = None) -> None:
    """Save ``model`` with its spec, atomically."""
    save_payload(path, model_payload(model, num_keys, extra))


def load_payload(path: str | Path, what: str = "model") -> dict[str, Any]:
    """``torch.load(weights_only=True)`` with one-line errors for missing/corrupt files."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} file not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt archives
        raise InputError(f"{what} file is corrupt or not a torch checkpoint ({type(exc).__name__}): {path}") from exc
    if not isinstance(payload, dict) or "state_dict" not in payload or "spec" not in payload:
        raise InputError(f"{what} file is not an amips model/checkpoint (no spec/state_dict): {path}")
    return payload


def model_from_payload(payload: dict[str, Any], source: str = "checkpoint") -> AmipsModel:
    """Rebuild the model of a payload after checking its weights: they must match the stored digest (files
    written before digests existed are checked for finiteness only) and be finite."""
    digest = payload.get("weights_sha256")
    if digest is not None and tensors_digest(payload["state_dict"]) != digest:
        raise InputError(f"{source} is corrupt: its weights do not match the digest stored with them")
    for name, tensor in payload["state_dict"].items():
        if torch.is_tensor(tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise InputError(f"{source} has non-finite weights ({name}): the model diverged or the file is corrupt")
    spec = ModelSpec.from_dict(payload["spec"])
    spec = spec.replace(width=int(payload["width"]))
    model = build_model(spec, int(payload["dim"]), int(payload["num_keys"]))
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise InputError(f"{source} weights do not match its spec: {str(exc).splitlines()[0]}") from exc
    return model


def load_model(path: str | Path, dim: int | None = None) -> AmipsModel:
    """Load a model saved by :func:`save_model`; ``dim`` checks the query dimension it will be used with."""
    model = model_from_payload(load_payload(path), source=str(path))
    return check_model_dim(model, dim, path) if dim is not None else model.eval()


def check_model_dim(model: AmipsModel, dim: int, path: str | Path) -> AmipsModel:
    """Return ``model`` in eval mode if it takes ``dim``-dimensional queries, else raise ``InputError``."""
    if model.dim != dim:
        raise InputError(f"model {path} expects dimension {model.dim} but the data has dimension {dim}")
    return model.eval()


def check_model_keys(payload: dict[str, Any], keys: np.ndarray, path: str | Path, allow_other: bool = False) -> None:
    """Refuse a model trained on other keys: ``payload['keys_sha256']`` must equal the digest of ``keys`` [m, d].

    With ``allow_other`` a mismatch is logged as a warning instead. A file that records no digest (written by
    amips before 0.2, or saved by hand) cannot be checked: a warning says so.
    """
    recorded = payload.get("keys_sha256")
    if recorded is None:
        log.warning("model %s records no digest of its training keys; cannot check that they are these keys", path)
        return
    if recorded != array_digest(keys):
        where = payload.get("data", {}).get("keys") or payload.get("keys_path") or "another key set"
        if not allow_other:
            raise InputError(f"model {path} was trained on other keys ({where}) than the ones given "
                             f"({keys.shape[0]} keys); pass --allow-other-keys to use it anyway")
        log.warning("model %s was trained on other keys (%s); used with these keys as asked", path, where)


def load_checked_model(path: str | Path, keys: np.ndarray, allow_other_keys: bool = False) -> tuple[AmipsModel, dict[str, Any]]:
    """A saved model for keys [m, d] and its payload, checked: weights intact and finite, dimension d, and trained
    on these keys (:func:`check_model_keys`)."""
    payload = load_payload(path)
    model = check_model_dim(model_from_payload(payload, str(path)), int(keys.shape[1]), path)
    check_model_keys(payload, keys, path, allow_other_keys)
    return model, payload
