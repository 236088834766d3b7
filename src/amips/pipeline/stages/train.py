"""The training stage (rule train, workflow/rules/train.smk): one model trained on a labels folder, resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from amips.training.runs import load_partition, train_arrays
from amips.data.folders import LabelsFolder, open_labels
from amips.data.io import atomic_write_json, load_embeddings
from amips.data.locks import exclusive_lock
from amips.models import ModelSpec
from amips.training.retrieval import uses_retrieval
from amips.core.runinfo import configure_torch
from amips.training.train import TrainSpec
from amips.training.validation import selection_eval_fn


def train_run(
    keys_path: str | Path,
    labels_dir: str | Path,
    out_dir: str | Path,
    model_spec: ModelSpec,
    train_spec: TrainSpec,
    seed: int,
    device: str = "cpu",
    threads: int = 1,
    eval_batch_size: int = 1024,
    progress: bool = False,
    on_stale: str = "restart",
    stale_hint: str = "delete it to train from step 0",
    partition_path: str | Path | None = None,
    restart: bool = False,
) -> dict[str, Any]:
    """Train one model on a labels folder made from the keys at ``keys_path``; writes ``model.pt`` and
    ``history.json`` into ``out_dir``, holding the lock on ``out_dir`` throughout (a second writer is refused).

    ``partition_path``: the faiss IVF index whose partition a ``train_spec.retrieval`` term trains on (needed then,
    ignored otherwise); validation then also reports the coverage of the true key's list (``val_list_coverage``).

    Resumes from ``checkpoint.pt`` if it is from the same run (same fingerprint, see
    :func:`amips.training.train.run_fingerprint`, including the labels' settings from ``meta.json``); a stale or corrupt one is
    discarded with a logged warning (``on_stale='restart'``, the pipeline) or is an error (``'error'``);
    ``restart`` deletes it first.
    """
    out = Path(out_dir)
    with exclusive_lock(out, "training run"):
        if restart:
            (out / "checkpoint.pt").unlink(missing_ok=True)
        configure_torch(threads, device)
        keys = load_embeddings(keys_path, "keys")
        labels = open_labels(labels_dir, keys, keys_path)
        return _train_labels(keys, labels, out, model_spec, train_spec, seed, device, threads, eval_batch_size,
                             progress, on_stale, stale_hint, partition_path)


def _train_labels(keys: np.ndarray, labels: LabelsFolder, out: Path, model_spec: ModelSpec, train_spec: TrainSpec,
                  seed: int, device: str, threads: int, eval_batch_size: int, progress: bool, on_stale: str,
                  stale_hint: str, partition_path: str | Path | None) -> dict[str, Any]:
    """The body of :func:`train_run` once the keys are loaded and the labels folder verified against them."""
    train_q, train_t = labels.split("train")
    partition = (load_partition(partition_path, keys) if uses_retrieval(train_spec.retrieval)
                 and partition_path is not None else None)
    eval_fn = None
    if labels.has("val"):
        val_q, val_t = labels.split("val")
        eval_fn = selection_eval_fn(keys, val_q, val_t, train_q, train_t, eval_batch_size, device, seed,
                                    partition=partition)
    label_cfg = labels.meta().get("config", {})
    data = {"labels": str(labels.path), "queries_sha256": labels.manifest.inputs.get("queries")}
    info, history = train_arrays(keys, train_q, train_t, out / "model.pt", out / "checkpoint.pt", model_spec,
                                 train_spec, seed, device, threads, eval_fn=eval_fn, progress=progress,
                                 extra={"data": data}, fingerprint_extra={"labels": label_cfg}, on_stale=on_stale,
                                 stale_hint=stale_hint, partition=partition)
    atomic_write_json(out / "history.json", {"info": info, "history": history})
    (out / "checkpoint.pt").unlink(missing_ok=True)
    return info
