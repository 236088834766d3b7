"""Your own embeddings end to end: train a model on two ``.npy`` files, and evaluate a model on your queries.

:func:`fit_embeddings` is the pipeline's labels → train stages without intermediate files: the queries are
noise-augmented and labelled with their exact top-1 key on the fly, and every row outside the validation split
(see :func:`fit_embeddings`) is used for training. It writes
one model file (weights, spec, training settings, train info) and, while training, a checkpoint ``<out>.ckpt``
from which a rerun with the same arguments resumes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from amips.data.sets import load_key_query_files
from amips.evaluation.evaluate import evaluate_model
from amips.core.fingerprint import array_digest
from amips.data.io import InputError, check_distinct_paths, check_replaceable, exclusive_lock, sibling_path
from amips.exact.labels import exact_topk
from amips.models import ModelSpec
from amips.core.runinfo import configure_torch
from amips.search import load_mips_model
from amips.exact.ivf import build_ivf, save_ivf
from amips.training.retrieval import Partition, uses_retrieval
from amips.exact.labelling import label_queries
from amips.training.runs import load_partition, train_arrays
from amips.training.train import TrainSpec
from amips.training.validation import carve_validation, selection_eval_fn

log = logging.getLogger("amips.fit")


def checkpoint_path(model_path: str | Path) -> Path:
    """The training checkpoint kept next to ``model_path`` by :func:`fit_embeddings`: ``<model_path>.ckpt`` (the name
    shortened if it would exceed the name limit, see :func:`amips.data.io.sibling_path`)."""
    return sibling_path(model_path, ".ckpt")


def fit_embeddings(
    keys_path: str | Path,
    queries_path: str | Path,
    out_path: str | Path,
    model_spec: ModelSpec,
    train_spec: TrainSpec,
    noise_copies: int = 4,
    noise_std: float = 0.02,
    seed: int = 0,
    device: str = "cpu",
    threads: int = 1,
    progress: bool = False,
    restart: bool = False,
    val_fraction: float = 0.1,
    val_queries_path: str | Path | None = None,
    val_split: str = "by_source",
    ivf_index_path: str | Path | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Train ``model_spec`` on keys [m, d] and queries [n, d] from ``.npy`` files; save it to ``out_path``.

    Each query gets ``noise_copies`` noisy copies (std ``noise_std``, renormalised); the exact top-1 key of every
    row is the target. Resumes from ``<out_path>.ckpt`` if a previous run with the same inputs and settings was
    interrupted; a checkpoint from other inputs or settings (or a corrupt one) is an error naming the differing
    field, unless ``restart`` discards it. An exclusive lock on ``out_path`` stops a second process from writing
    the same model. Returns the train info stored in the model file.

    Validation (for ``train_spec.select = 'best_val'`` and the logged validation metrics): the queries in
    ``val_queries_path`` (labelled with their exact top-1, no noise copies; then every training row is used), or else
    a ``val_fraction`` of the training queries, split by source (``val_split='by_source'``: no noisy copy of a
    validation query is trained on) or by row (``'pooled'``).

    With ``train_spec.retrieval`` (:mod:`amips.training.retrieval`), the term trains on the partition of the faiss IVF index
    ``ivf_index_path`` (over the same keys), or else of one built here (⌊√m⌋ lists, seed 0) and saved as
    ``<out_path>.ivf`` so that the model can be searched with the index it was trained for.

    ``out_path`` (and that index) may be neither an input nor a file that amips did not write (unless ``overwrite``);
    error messages name the ``amips fit`` options.
    """
    out_path = Path(out_path)
    if out_path.is_dir():
        raise InputError(f"output {out_path} is a directory; give a file name such as {out_path / 'model.pt'}")
    ckpt = checkpoint_path(out_path)
    inputs = {"--keys": keys_path, "--queries": queries_path, **({"--val-queries": val_queries_path}
                                                                 if val_queries_path is not None else {}),
              **({"--ivf-index": ivf_index_path} if ivf_index_path is not None else {})}
    outputs = {"--out": out_path, "checkpoint": ckpt}
    if uses_retrieval(train_spec.retrieval) and ivf_index_path is None:
        outputs["IVF index output"] = sibling_path(out_path, ".ivf")
    check_distinct_paths(outputs, inputs)
    check_replaceable({name: path for name, path in outputs.items() if name != "checkpoint"}, overwrite)
    with exclusive_lock(out_path, "amips fit"):
        configure_torch(threads, device)
        ds = load_key_query_files(keys_path, queries_path)
        label_cfg = {"noise_copies": noise_copies, "noise_std": noise_std, "seed": seed, "num_clusters": 1,
                     "val_fraction": 0.0 if val_queries_path is not None else val_fraction, "val_split": val_split}
        labels = label_queries(ds.keys, ds.queries, label_cfg, device)
        log.info("labelled %d rows (%d queries × %d) over %d keys in %.2f s", labels.queries.shape[0],
                 ds.queries.shape[0], 1 + noise_copies, ds.keys.shape[0], labels.seconds)
        rows, val_rows = carve_validation(np.arange(labels.queries.shape[0]), labels.source,
                                          label_cfg["val_fraction"], seed, by_source=val_split == "by_source")
        train_q, train_t = labels.queries[rows], labels.targets[rows]
        if val_queries_path is not None:
            val_q = load_key_query_files(keys_path, val_queries_path, "--val-queries").queries
            val_t = exact_topk(val_q, ds.keys, 1, device=device)[1]
            label_cfg["val_queries"] = array_digest(val_q)
        else:
            val_q, val_t = labels.queries[val_rows], labels.targets[val_rows]
        partition = _partition(ds.keys, train_spec, ivf_index_path, outputs.get("IVF index output"))
        eval_fn = selection_eval_fn(ds.keys, val_q, val_t, train_q, train_t, device=device, seed=seed,
                                    partition=partition)
        if restart and ckpt.exists():
            log.info("--restart: discarding %s", ckpt)
            ckpt.unlink()
        if out_path.exists():
            log.warning("%s exists and will be replaced by the new model", out_path)
        extra = {"train_spec": asdict(train_spec), "label_config": label_cfg,
                 "data": {"keys": str(keys_path), "queries": str(queries_path), "num_queries": int(ds.queries.shape[0])}}
        info, _ = train_arrays(ds.keys, train_q, train_t, out_path, ckpt, model_spec, train_spec, seed,
                               device, threads, eval_fn=eval_fn, progress=progress, extra=extra,
                               fingerprint_extra={"labels": label_cfg}, partition=partition,
                               on_stale="error", stale_hint="rerun with --restart to discard it and train from step 0")
        ckpt.unlink(missing_ok=True)
    return info


def _partition(keys: np.ndarray, train_spec: TrainSpec, index_path: str | Path | None,
               new_index_path: Path | None) -> Partition | None:
    """The IVF partition a retrieval term trains on: of ``index_path``, else of a new index saved at
    ``new_index_path``; None without a retrieval term."""
    if not uses_retrieval(train_spec.retrieval):
        return None
    if index_path is not None:
        return load_partition(index_path, keys)
    ivf = build_ivf(keys, seed=0)
    save_ivf(ivf, new_index_path)
    log.info("built an IVF index of %d lists for the retrieval term; saved to %s", ivf.nlist, new_index_path)
    return Partition.from_ivf(ivf)


def evaluate_queries(model_path: str | Path, keys_path: str | Path, queries_path: str | Path, device: str = "cpu",
                     threads: int = 1, batch_size: int = 1024, allow_other_keys: bool = False) -> dict[str, Any]:
    """Metrics of a saved model on queries [n, d] against their exact top-1 keys [m, d] (all from files).

    Returns the model's train info followed by the metrics of :func:`amips.evaluation.metrics.evaluate_predictions`.
    """
    configure_torch(threads, device)
    ds = load_key_query_files(keys_path, queries_path)
    model, payload = load_mips_model(model_path, ds.keys, allow_other_keys)
    t0 = time.perf_counter()
    targets = exact_topk(ds.queries, ds.keys, 1, device=device)[1]
    metrics = evaluate_model(model, ds.keys, ds.queries, targets, batch_size, device)
    return {**payload.get("train_info", {}), **metrics, "eval_seconds": time.perf_counter() - t0}
