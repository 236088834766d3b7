"""One training run on arrays: build the model, train it, save it with its train info and the keys' digest."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from amips.core.fingerprint import array_digest
from amips.core.resources import check_fits, training_bytes
from amips.core.runinfo import environment_info
from amips.index.ivf import IvfFlatIndex
from amips.models import AmipsModel, ModelSpec, build_model, parameter_count, save_model
from amips.models.factory import expected_parameter_count, resolve_width
from amips.models.sizing import parameter_budget
from amips.training.retrieval import Partition
from amips.training.train import TrainData, TrainSpec, train_model


def load_partition(index_path: str | Path, keys: np.ndarray) -> Partition:
    """The partition (centroids, key lists) of the IVF index at ``index_path``, which must hold keys [m, d]."""
    return Partition.from_ivf(IvfFlatIndex().load(index_path, keys, "IVF index", "the keys"))


def train_arrays(
    keys: np.ndarray,
    train_q: np.ndarray,
    train_t: np.ndarray,
    model_path: str | Path,
    checkpoint_path: str | Path,
    model_spec: ModelSpec,
    train_spec: TrainSpec,
    seed: int,
    device: str = "cpu",
    threads: int = 1,
    eval_fn: Callable[[AmipsModel], dict[str, float]] | None = None,
    progress: bool = False,
    extra: dict[str, Any] | None = None,
    fingerprint_extra: dict[str, Any] | None = None,
    on_stale: str = "error",
    stale_hint: str = "delete it to train from step 0",
    partition: Partition | None = None,
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """Build and train a model on queries [N, d] with targets [N, C] over keys [m, d]; save it to ``model_path``.

    Training resumes from ``checkpoint_path`` if it exists; the caller deletes it once its own outputs are written.
    The saved file holds the EMA weights, the spec, ``train_info``, the digest of ``keys`` (``keys_sha256``, checked
    by evaluation and search) and ``extra``. Returns (train info, history). ``fingerprint_extra``, ``on_stale`` and
    ``stale_hint`` are passed to :func:`amips.training.train.train_model`; a diverged run raises
    :class:`amips.training.train.TrainingDiverged` and writes no model.
    """
    if model_spec.num_outputs != train_t.shape[1]:
        model_spec = model_spec.replace(num_outputs=int(train_t.shape[1]))
    width = resolve_width(model_spec, keys.shape[1], keys.shape[0])
    num_parameters = expected_parameter_count(model_spec.replace(width=width), keys.shape[1], width)
    check_fits(training_bytes(num_parameters, train_spec.batch_size, width, model_spec.depth, keys.shape[1],
                              train_q.shape[0]), f"training a model of {num_parameters} parameters (width {width})")
    model = build_model(model_spec, keys.shape[1], keys.shape[0], seed=seed)
    data = TrainData(torch.from_numpy(train_q), torch.from_numpy(train_t), torch.from_numpy(keys), partition)
    result = train_model(model, data, train_spec, seed=seed, device=device, checkpoint_path=checkpoint_path,
                         eval_fn=eval_fn, progress=progress, fingerprint_extra=fingerprint_extra, on_stale=on_stale,
                         stale_hint=stale_hint, run_name=str(model_path))
    info = {
        "kind": model_spec.kind, "homogenization": model_spec.homogenization, "width": model.width,
        "num_parameters": parameter_count(model),
        "budget_rule": model_spec.budget_rule,
        "expected_parameters": expected_parameter_count(model.spec, model.dim, model.width),
        "parameter_budget": parameter_budget(model_spec.parameters_fraction, keys.shape[0], keys.shape[1]),
        "train_seconds": result.seconds, "steps_per_second": result.steps_per_second,
        "samples_per_second": result.steps_per_second * train_spec.batch_size, "resumed_from_step": result.resumed_from,
        "seed": seed, **result.selection, **environment_info(device, threads),
    }
    save_model(model_path, result.ema_model.cpu(), keys.shape[0],
               {"train_info": info, "keys_sha256": array_digest(keys), **(extra or {})})
    return info, result.history
