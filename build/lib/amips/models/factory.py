"""Build a model from a spec and a key set size, and (de)serialise it with its spec."""

from __future__ import annotations

import logging
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from amips.core.fingerprint import array_digest, tensors_digest
from amips.data.io import InputError, atomic_path
from amips.models.homogenize import homogenizer_class
from amips.models.networks import AmipsModel, KeyNet, SupportNet
from amips.models.sizing import exact_parameter_count, parameter_budget, solve_width
from amips.models.spec import ModelSpec

log = logging.getLogger("amips.models")

# bounds of a model file's size fields: far above any real model, far below what would hang or exhaust memory
PAYLOAD_LIMITS = {"dim": 10**6, "width": 10**7, "num_keys": 10**13}
SPEC_LIMITS = {"depth": 10**4, "num_outputs": 10**7}


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
    """``torch.save`` atomically, through a Python file so that write failures (disk full) raise ``OSError``: torch
    wraps the file's ``OSError`` in a ``RuntimeError``, which is unwrapped here."""
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        try:
            torch.save(payload, fh)
        except RuntimeError as exc:
            cause = exc.__context__
            if isinstance(cause, OSError):
                raise OSError(cause.errno, cause.strerror) from exc
            raise


def save_model(path: str | Path, model: AmipsModel, num_keys: int, extra: dict[str, Any] | None = None) -> None:
    """Save ``model`` with its spec, atomically."""
    save_payload(path, model_payload(model, num_keys, extra))


def load_payload(path: str | Path, what: str = "model") -> dict[str, Any]:
    """``torch.load(weights_only=True)`` with one-line errors for missing/corrupt files."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} file not found: {path}")
    if path.is_dir():
        if not (path / "model.pt").is_file():
            raise InputError(f"{what} path {path} is a directory without model.pt; give the model file")
        log.info("%s is a run directory (amips train --out): using %s", path, path / "model.pt")
        path = path / "model.pt"
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt archives
        raise InputError(f"{what} file is corrupt or not a torch checkpoint ({type(exc).__name__}): {path}") from exc
    if not isinstance(payload, dict) or "state_dict" not in payload or "spec" not in payload:
        raise InputError(f"{what} file is not an amips model/checkpoint (no spec/state_dict): {path}")
    return payload


def check_payload_fields(payload: dict[str, Any], source: str) -> ModelSpec:
    """The spec of a model file's payload, after checking every field a model is built from (a hand-made or damaged
    file): sizes are integers within :data:`PAYLOAD_LIMITS`, the spec's fields have their types, ``state_dict`` holds
    tensors, and the architecture needs no more weights than the file holds. Each failure is one ``InputError``
    naming ``source`` and the field."""
    for field, limit in PAYLOAD_LIMITS.items():
        value = payload.get(field)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
            raise InputError(f"{source}: field {field!r} must be an integer in [1, {limit}], got {value!r:.60}")
    for field in ("spec", "state_dict", "train_info", "data"):
        if field in payload and not isinstance(payload[field], dict):
            raise InputError(f"{source}: field {field!r} must be a mapping, got {type(payload[field]).__name__}")
    state = payload["state_dict"]
    if not all(isinstance(name, str) and torch.is_tensor(tensor) for name, tensor in state.items()):
        raise InputError(f"{source}: field 'state_dict' must map parameter names to tensors")
    spec = _spec_of(payload["spec"], source).replace(width=payload["width"])
    expected = expected_parameter_count(spec, payload["dim"], payload["width"])
    stored = sum(tensor.numel() for tensor in state.values())
    if expected > stored:
        raise InputError(f"{source}: its spec, dim {payload['dim']} and width {payload['width']} describe "
                         f"{expected} parameters but field 'state_dict' holds {stored} values; the file is damaged "
                         "or was not written by amips")
    return spec


def _spec_of(values: dict[str, Any], source: str) -> ModelSpec:
    """``ModelSpec.from_dict(values)`` with the type of every field checked first (errors name the field)."""
    hints = typing.get_type_hints(ModelSpec)
    for field in fields(ModelSpec):
        if field.name not in values:
            continue
        value, allowed = values[field.name], typing.get_args(hints[field.name]) or (hints[field.name],)
        numbers = allowed + ((int,) if float in allowed else ())  # an int is a valid float
        ok = bool in allowed if isinstance(value, bool) else isinstance(value, numbers)
        limit = SPEC_LIMITS.get(field.name)
        if not ok or (limit is not None and isinstance(value, int) and value > limit):
            wanted = " or ".join("None" if t is type(None) else t.__name__ for t in allowed)
            bound = f" at most {limit}" if limit is not None else ""
            raise InputError(f"{source}: field 'spec.{field.name}' must be {wanted}{bound}, got {value!r:.60}")
    try:
        return ModelSpec.from_dict(values)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{source}: field 'spec' is invalid: {exc}") from exc


def model_from_payload(payload: dict[str, Any], source: str = "checkpoint") -> AmipsModel:
    """Rebuild the model of a payload after checking its fields (:func:`check_payload_fields`) and its weights:
    they must match the stored digest (files written before digests existed are checked for finiteness only) and
    be finite."""
    spec = check_payload_fields(payload, source)
    digest = payload.get("weights_sha256")
    if digest is not None and tensors_digest(payload["state_dict"]) != digest:
        raise InputError(f"{source} is corrupt: its weights do not match the digest stored with them")
    for name, tensor in payload["state_dict"].items():
        if torch.is_tensor(tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise InputError(f"{source} has non-finite weights ({name}): the model diverged or the file is corrupt")
    model = build_model(spec, payload["dim"], payload["num_keys"])
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


def check_model_outputs(model: AmipsModel, num_targets: int, path: str | Path, labels: str | Path) -> None:
    """Refuse to evaluate a model on labels of the other kind: a C-output router needs labels with C per-cluster
    targets (``amips labels --num-clusters C``), a MIPS model single-target labels."""
    if model.num_outputs == num_targets:
        return
    if model.num_outputs == 1:
        raise InputError(f"model {path} is a MIPS model (1 output) but {labels} holds router labels of {num_targets} "
                         "clusters; evaluate it on single-target labels (amips labels without --num-clusters)")
    have = "single-target MIPS labels" if num_targets == 1 else f"router labels of {num_targets} clusters"
    raise InputError(f"model {path} is a cluster router with {model.num_outputs} outputs but {labels} holds {have}; "
                     f"evaluate it on labels made with --num-clusters {model.num_outputs}")


def load_checked_model(path: str | Path, keys: np.ndarray, allow_other_keys: bool = False) -> tuple[AmipsModel, dict[str, Any]]:
    """A saved model for keys [m, d] and its payload, checked: weights intact and finite, dimension d, and trained
    on these keys (:func:`check_model_keys`)."""
    payload = load_payload(path)
    model = check_model_dim(model_from_payload(payload, str(path)), int(keys.shape[1]), path)
    check_model_keys(payload, keys, path, allow_other_keys)
    return model, payload
