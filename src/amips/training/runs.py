"""One training run on arrays: build the model, train it, save it with its train info and the keys' digest."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class TrainedRun:
    """A model trained on arrays (:func:`fit_arrays`): its EMA weights, train info and validation history."""

    model: AmipsModel
    info: dict[str, Any]
    history: list[dict[str, float]]


def fit_arrays(
    keys: np.ndarray,
    train_q: np.ndarray,
    train_t: np.ndarray,
    model_spec: ModelSpec,
    train_spec: TrainSpec,
    seed: int,
    device: str = "cpu",
    threads: int = 1,
    eval_fn: Callable[[AmipsModel], dict[str, float]] | None = None,
    progress: bool = False,
    checkpoint_path: str | Path | None = None,
    fingerprint_extra: dict[str, Any] | None = None,
    on_stale: str = "error",
    stale_hint: str = "delete it to train from step 0",
    partition: Partition | None = None,
    run_name: str = "",
) -> TrainedRun:
    """Build and train a model on queries [N, d] with targets [N, C] over keys [m, d], in memory.

    Training resumes from ``checkpoint_path`` when given and present; ``fingerprint_extra``, ``on_stale`` and
    ``stale_hint`` are passed to :func:`amips.training.train.train_model`; a diverged run raises
    :class:`amips.training.train.TrainingDiverged`.
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
                         stale_hint=stale_hint, run_name=run_name)
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
    return TrainedRun(result.ema_model.cpu().eval(), info, result.history)


def save_run(path: str | Path, run: TrainedRun, keys: np.ndarray, extra: dict[str, Any] | None = None) -> None:
    """Save a trained run's model with its train info, the digest of ``keys`` (``keys_sha256``, checked by
    evaluation and search) and ``extra``, atomically."""
    save_model(path, run.model, keys.shape[0], {"train_info": run.info, "keys_sha256": array_digest(keys),
                                                **(extra or {})})


def train_arrays(keys: np.ndarray, train_q: np.ndarray, train_t: np.ndarray, model_path: str | Path,
                 checkpoint_path: str | Path, model_spec: ModelSpec, train_spec: TrainSpec, seed: int,
                 device: str = "cpu", threads: int = 1, extra: dict[str, Any] | None = None,
                 **options: Any) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """:func:`fit_arrays` (``options``: its keywords) with a checkpoint, then :func:`save_run` to ``model_path``
    with ``extra``; returns (train info, history). The caller deletes the checkpoint once its own outputs are
    written; a diverged run writes no model."""
    run = fit_arrays(keys, train_q, train_t, model_spec, train_spec, seed, device, threads,
                     checkpoint_path=checkpoint_path, run_name=str(model_path), **options)
    save_run(model_path, run, keys, extra)
    return run.info, run.history
