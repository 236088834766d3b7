"""Pipeline stages on files: dataset → labels → train → evaluate. Used by the CLI and the Snakemake scripts.

Directory contents:
* dataset dir: ``keys.npy`` [m, d], ``queries.npy`` [n, d], ``meta.json``
* labels dir:  ``{train,test}_queries.npy`` [N, d], ``{train,test}_targets.npy`` [N, C] int64 (per-cluster top-1),
  ``{train,test}_source.npy`` [N] (source query of each row), ``centroids.npy`` [C, d], ``assignments.npy`` [m],
  ``meta.json``
* run dir:     ``model.pt`` (EMA weights + spec), ``history.json``, ``metrics.json``; ``checkpoint.pt`` while training
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from amips.augment import augment_queries, split_rows
from amips.clustering import kmeans
from amips.data import KeyQuerySet, gaussian_sphere, load_key_query_files, structured_embeddings
from amips.evaluate import evaluate_model
from amips.io import InputError, atomic_save_npy, atomic_write_json, load_embeddings, load_npy
from amips.labels import exact_topk, per_cluster_top1
from amips.models import ModelSpec, build_model, parameter_count, save_model
from amips.models.factory import check_model_dim, expected_parameter_count, load_payload, model_from_payload
from amips.models.sizing import parameter_budget
from amips.runinfo import configure_torch, environment_info
from amips.train import TrainData, TrainSpec, train_model

log = logging.getLogger("amips.stages")


def make_dataset(spec: dict[str, Any], out_dir: str | Path) -> dict[str, Any]:
    """Create a key/query set from a dataset config entry and write it to ``out_dir``.

    ``spec['source']``: ``gaussian`` | ``structured`` (synthetic; num_keys, num_queries, dim, seed, options) or
    ``npy`` (keys, queries: paths to user ``.npy`` files).
    """
    t0 = time.perf_counter()
    source = spec["source"]
    if source in ("gaussian", "structured"):
        make = gaussian_sphere if source == "gaussian" else structured_embeddings
        ds = make(int(spec["num_keys"]), int(spec["num_queries"]), int(spec["dim"]), seed=int(spec.get("seed", 0)),
                  **spec.get("options", {}))
    elif source == "npy":
        ds = load_key_query_files(spec["keys"], spec["queries"])
    else:
        raise InputError(f"unknown dataset source {source!r}; choose gaussian, structured or npy")
    return write_dataset(ds, out_dir, {"source": source, "spec": spec, "seconds": time.perf_counter() - t0})


def write_dataset(ds: KeyQuerySet, out_dir: str | Path, meta: dict[str, Any]) -> dict[str, Any]:
    out = Path(out_dir)
    atomic_save_npy(out / "keys.npy", ds.keys)
    atomic_save_npy(out / "queries.npy", ds.queries)
    meta = {**meta, "num_keys": int(ds.keys.shape[0]), "num_queries": int(ds.queries.shape[0]), "dim": ds.dim}
    atomic_write_json(out / "meta.json", meta)
    return meta


def make_labels(dataset_dir: str | Path, out_dir: str | Path, cfg: dict[str, Any], device: str = "cpu") -> dict[str, Any]:
    """Noise-augment the queries, compute exact (per-cluster) top-1 targets and split train/test.

    ``cfg``: noise_std, noise_copies, test_size (rows or fraction), split ('by_source' | 'pooled'), seed,
    num_clusters (1 = plain MIPS), query_chunk, key_chunk.
    """
    t0 = time.perf_counter()
    keys = load_embeddings(Path(dataset_dir) / "keys.npy", "keys")
    queries = load_embeddings(Path(dataset_dir) / "queries.npy", "queries", dim=keys.shape[1])
    seed = int(cfg.get("seed", 0))
    augmented, source = augment_queries(queries, int(cfg.get("noise_copies", 0)), float(cfg.get("noise_std", 0.02)), seed)
    num_clusters = int(cfg.get("num_clusters", 1))
    clustering = kmeans(keys, num_clusters, seed=seed)
    chunks = {"query_chunk": int(cfg.get("query_chunk", 2048)), "key_chunk": int(cfg.get("key_chunk", 65536))}
    t_labels = time.perf_counter()
    if num_clusters == 1:
        targets = exact_topk(augmented, keys, 1, device=device, **chunks)[1]
    else:
        targets = per_cluster_top1(augmented, keys, clustering.assignments, num_clusters, device=device, **chunks)
    label_seconds = time.perf_counter() - t_labels
    train_rows, test_rows = split_rows(source, cfg.get("test_size", 0.2), seed, by_source=cfg.get("split", "by_source") == "by_source")
    out = Path(out_dir)
    for name, rows in (("train", train_rows), ("test", test_rows)):
        atomic_save_npy(out / f"{name}_queries.npy", augmented[rows])
        atomic_save_npy(out / f"{name}_targets.npy", targets[rows])
        atomic_save_npy(out / f"{name}_source.npy", source[rows])
    atomic_save_npy(out / "centroids.npy", clustering.centroids)
    atomic_save_npy(out / "assignments.npy", clustering.assignments)
    meta = {
        "config": cfg, "device": device, "num_keys": int(keys.shape[0]), "dim": int(keys.shape[1]),
        "num_rows": int(augmented.shape[0]), "num_train": int(train_rows.size), "num_test": int(test_rows.size),
        "num_clusters": num_clusters, "distinct_train_targets": int(np.unique(targets[train_rows]).size),
        "label_seconds": label_seconds, "label_queries_per_s": augmented.shape[0] / max(label_seconds, 1e-9),
        "seconds": time.perf_counter() - t0,
    }
    atomic_write_json(out / "meta.json", meta)
    return meta


def _load_split(labels_dir: Path, split: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    queries = load_embeddings(labels_dir / f"{split}_queries.npy", f"{split} queries", dim=dim)
    targets = load_npy(labels_dir / f"{split}_targets.npy", f"{split} targets").astype(np.int64)
    if targets.ndim != 2 or targets.shape[0] != queries.shape[0]:
        raise InputError(f"{split} targets have shape {targets.shape}, expected [{queries.shape[0]}, C]")
    return queries, targets


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
) -> dict[str, Any]:
    """Train one model; writes ``model.pt`` and ``history.json`` into ``out_dir`` (resumes from ``checkpoint.pt``)."""
    configure_torch(threads, device)
    labels_dir, out = Path(labels_dir), Path(out_dir)
    keys = load_embeddings(keys_path, "keys")
    train_q, train_t = _load_split(labels_dir, "train", keys.shape[1])
    if model_spec.num_outputs != train_t.shape[1]:
        model_spec = model_spec.replace(num_outputs=int(train_t.shape[1]))
    model = build_model(model_spec, keys.shape[1], keys.shape[0], seed=seed)
    data = TrainData(torch.from_numpy(train_q), torch.from_numpy(train_t), torch.from_numpy(keys))
    eval_fn = None
    if train_spec.eval_every:
        test_q, test_t = _load_split(labels_dir, "test", keys.shape[1])
        eval_fn = lambda m: evaluate_model(m, keys, test_q, test_t, eval_batch_size, device)  # noqa: E731
    result = train_model(model, data, train_spec, seed=seed, device=device, checkpoint_path=out / "checkpoint.pt",
                         eval_fn=eval_fn, progress=progress)
    info = {
        "kind": model_spec.kind, "homogenization": model_spec.homogenization, "width": model.width,
        "num_parameters": parameter_count(model),
        "budget_rule": model_spec.budget_rule,
        "expected_parameters": expected_parameter_count(model.spec, model.dim, model.width),
        "parameter_budget": parameter_budget(model_spec.parameters_fraction, keys.shape[0], keys.shape[1]),
        "train_seconds": result.seconds, "steps_per_second": result.steps_per_second,
        "samples_per_second": result.steps_per_second * train_spec.batch_size, "resumed_from_step": result.resumed_from,
        "seed": seed, **environment_info(device, threads),
    }
    save_model(out / "model.pt", result.ema_model.cpu(), keys.shape[0], {"train_info": info})
    atomic_write_json(out / "history.json", {"info": info, "history": result.history})
    (out / "checkpoint.pt").unlink(missing_ok=True)
    return info


def evaluate_run(
    model_path: str | Path,
    keys_path: str | Path,
    labels_dir: str | Path,
    out_path: str | Path,
    run: dict[str, Any] | None = None,
    device: str = "cpu",
    threads: int = 1,
    batch_size: int = 1024,
) -> dict[str, Any]:
    """Evaluate a saved model on the test split; writes ``metrics.json`` = run fields + train info + metrics."""
    configure_torch(threads, device)
    keys = load_embeddings(keys_path, "keys")
    test_q, test_t = _load_split(Path(labels_dir), "test", keys.shape[1])
    payload = load_payload(model_path)
    model = check_model_dim(model_from_payload(payload, str(model_path)), keys.shape[1], model_path)
    t0 = time.perf_counter()
    metrics = evaluate_model(model, keys, test_q, test_t, batch_size, device)
    record = {**(run or {}), **payload.get("train_info", {}), **metrics,
              "eval_seconds": time.perf_counter() - t0}
    atomic_write_json(out_path, record)
    return record
