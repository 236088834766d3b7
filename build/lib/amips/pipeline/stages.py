"""Pipeline stages on files: dataset → labels → train → evaluate. Used by the CLI and the Snakemake scripts.

Directory contents:
* dataset dir: ``keys.npy`` [m, d], ``queries.npy`` [n, d], ``meta.json``, ``manifest.json``
* labels dir:  ``{train,val,test}_queries.npy`` [N, d], ``{train,val,test}_targets.npy`` [N, C] int64 (per-cluster
  top-1), ``{train,val,test}_source.npy`` [N] (source query of each row), ``centroids.npy`` [C, d],
  ``assignments.npy`` [m], ``meta.json``, ``manifest.json``
* run dir:     ``model.pt`` (EMA weights + spec), ``history.json``, ``metrics.json``; ``checkpoint.pt`` while training

Dataset and labels folders are written as one unit (:mod:`amips.data.manifest`: the manifest is removed before the first
file is written and written after the last) and read only through :mod:`amips.data.folders`, which verifies it. Every
writer holds an exclusive lock on its output (:func:`amips.data.io.exclusive_lock`), so a second writer is refused.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amips.data.augment import split_rows
from amips.data.sets import KeyQuerySet, gaussian_sphere, load_key_query_files, structured_embeddings
from amips.evaluation.evaluate import evaluate_model, model_seconds_per_query
from amips.exact.labelling import label_queries
from amips.training.runs import load_partition, train_arrays
from amips.data.folders import LabelsFolder, load_dataset, open_labels
from amips.data.io import InputError, atomic_save_npy, atomic_write_json, exclusive_lock, load_embeddings
from amips.data.manifest import remove_manifest, write_manifest
from amips.models import ModelSpec
from amips.core.fingerprint import array_digest
from amips.models.factory import check_model_outputs, load_checked_model
from amips.core.resources import check_fits
from amips.core.schema import section
from amips.training.retrieval import uses_retrieval
from amips.core.runinfo import configure_torch
from amips.training.train import TrainSpec
from amips.training.validation import carve_validation, selection_eval_fn

log = logging.getLogger("amips.pipeline.stages")


def make_dataset(spec: dict[str, Any], out_dir: str | Path) -> dict[str, Any]:
    """Create a key/query set from a dataset config entry and write it to ``out_dir``.

    ``spec['source']``: ``gaussian`` | ``structured`` (synthetic; num_keys, num_queries, dim, seed, options) or
    ``npy`` (keys, queries: paths to user ``.npy`` files). Holds the lock on ``out_dir`` throughout.
    """
    with exclusive_lock(out_dir, "dataset writer"):
        return _make_dataset(spec, out_dir)


def _generator_default(make: Any, option: str) -> Any:
    """The default of a synthetic generator's keyword ``option`` (its signature is where it is written)."""
    return inspect.signature(make).parameters[option].default


def _make_dataset(spec: dict[str, Any], out_dir: str | Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    spec = section("datasets.*", spec, validate=False)  # the schema's defaults for what the entry leaves out
    source = spec["source"]
    if source in ("gaussian", "structured"):
        make = gaussian_sphere if source == "gaussian" else structured_embeddings
        sizes = synthetic_sizes(spec)
        # float64 points [rows, d]; the structured generator also gathers each row's basis [rows, d, r]
        rank = int(spec["options"].get("intrinsic_dim", _generator_default(make, "intrinsic_dim"))) \
            if source == "structured" else 0
        check_fits(8 * (sizes[0] + sizes[1]) * sizes[2] * (3 + max(rank, 0)),
                   f"generating {sizes[0]} keys and {sizes[1]} queries of dimension {sizes[2]}")
        held_out = int(spec.get("held_out", 0))
        ds = make(sizes[0], sizes[1] + held_out, sizes[2], seed=int(spec["seed"]), **spec["options"])
        if held_out:
            queries = ds.queries
            ds = replace(ds, queries=queries[: sizes[1]])
            return write_dataset(ds, out_dir, {"source": source, "spec": spec, "seconds": time.perf_counter() - t0},
                                 held_out=queries[sizes[1]:])
    elif source == "npy":
        ds = load_key_query_files(spec["keys"], spec["queries"])
    else:
        raise InputError(f"unknown dataset source {source!r}; choose gaussian, structured or npy")
    return write_dataset(ds, out_dir, {"source": source, "spec": spec, "seconds": time.perf_counter() - t0})


def synthetic_sizes(spec: dict[str, Any]) -> tuple[int, int, int]:
    """(num_keys, num_queries, dim) of a synthetic dataset entry, each checked to be a positive integer."""
    sizes = []
    for name in ("num_keys", "num_queries", "dim"):
        value = spec.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"dataset {name} must be a positive integer, got {value!r}")
        sizes.append(int(value))
    return sizes[0], sizes[1], sizes[2]


def write_dataset(ds: KeyQuerySet, out_dir: str | Path, meta: dict[str, Any],
                  held_out: np.ndarray | None = None) -> dict[str, Any]:
    """Write keys, queries and ``meta`` (plus sizes) as dataset folder ``out_dir``, its manifest last; returns the
    meta. ``held_out`` queries [h, d] (more draws of the same generator, for a user's held-out evaluation) are
    written as ``held_out_queries.npy``."""
    out = Path(out_dir)
    remove_manifest(out)
    atomic_save_npy(out / "keys.npy", ds.keys)
    atomic_save_npy(out / "queries.npy", ds.queries)
    files = ["keys.npy", "queries.npy", "meta.json"]
    meta = {**meta, "num_keys": int(ds.keys.shape[0]), "num_queries": int(ds.queries.shape[0]), "dim": ds.dim}
    if held_out is not None:
        atomic_save_npy(out / "held_out_queries.npy", held_out)
        files.append("held_out_queries.npy")
        meta["num_held_out_queries"] = int(held_out.shape[0])
    atomic_write_json(out / "meta.json", meta)
    write_manifest(out, "dataset", files, {}, meta)
    return meta


def make_labels(dataset_dir: str | Path, out_dir: str | Path, cfg: dict[str, Any], device: str = "cpu") -> dict[str, Any]:
    """Noise-augment the queries, compute exact (per-cluster) top-1 targets and split train/test.

    ``cfg``: noise_std, noise_copies, test_size (rows or fraction), split ('by_source' | 'pooled'), seed,
    validation_fraction (of the training source queries kept aside for model selection, default 0.1; 0 = official),
    num_clusters (1 = plain MIPS), query_chunk, key_chunk.

    The dataset folder is verified first; the labels folder's manifest records the digests of its keys and queries.
    Holds the lock on ``out_dir`` throughout.
    """
    with exclusive_lock(out_dir, "labels writer"):
        return _make_labels(dataset_dir, out_dir, cfg, device)


def _make_labels(dataset_dir: str | Path, out_dir: str | Path, cfg: dict[str, Any], device: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    keys, queries = load_dataset(dataset_dir)
    cfg = section("labels", cfg, validate=False)  # the schema's defaults for what cfg leaves out
    labels = label_queries(keys, queries, cfg, device)
    train_rows, test_rows = split_rows(labels.source, cfg["test_size"], int(cfg["seed"]),
                                       by_source=cfg["split"] == "by_source")
    train_rows, val_rows = carve_validation(train_rows, labels.source, float(cfg["validation_fraction"]),
                                            int(cfg["seed"]))
    out = Path(out_dir)
    remove_manifest(out)
    files = ["centroids.npy", "assignments.npy", "meta.json"]
    for name, rows in (("train", train_rows), ("val", val_rows), ("test", test_rows)):
        atomic_save_npy(out / f"{name}_queries.npy", labels.queries[rows].reshape(-1, labels.queries.shape[1]))
        atomic_save_npy(out / f"{name}_targets.npy", labels.targets[rows])
        atomic_save_npy(out / f"{name}_source.npy", labels.source[rows])
        files += [f"{name}_queries.npy", f"{name}_targets.npy", f"{name}_source.npy"]
    atomic_save_npy(out / "centroids.npy", labels.clustering.centroids)
    atomic_save_npy(out / "assignments.npy", labels.clustering.assignments)
    num_rows = int(labels.queries.shape[0])
    meta = {
        "config": cfg, "device": device, "num_keys": int(keys.shape[0]), "dim": int(keys.shape[1]),
        "num_rows": num_rows, "num_train": int(train_rows.size), "num_val": int(val_rows.size),
        "num_test": int(test_rows.size),
        "num_clusters": int(labels.targets.shape[1]),
        "distinct_train_targets": int(np.unique(labels.targets[train_rows]).size),
        "label_seconds": labels.seconds, "label_queries_per_s": num_rows / max(labels.seconds, 1e-9),
        "seconds": time.perf_counter() - t0,
    }
    atomic_write_json(out / "meta.json", meta)
    write_manifest(out, "labels", files, {"keys": array_digest(keys), "queries": array_digest(queries)},
                   {"config": cfg})
    return meta


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


def evaluate_run(
    model_path: str | Path,
    keys_path: str | Path,
    labels_dir: str | Path,
    out_path: str | Path | None,
    run: dict[str, Any] | None = None,
    device: str = "cpu",
    threads: int = 1,
    batch_size: int = 1024,
    allow_other_keys: bool = False,
    conventions: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Evaluate a saved model on the test split; returns (and writes to ``out_path`` unless None) the record
    run fields + train info + metrics. A model trained on other keys is refused unless ``allow_other_keys``;
    ``conventions`` (``rank_ties``, ``recall_at_1pct``, see :func:`amips.evaluation.metrics.evaluate_predictions`) are recorded
    with the metrics. The labels folder must have been made from these keys; the lock on ``out_path`` is held
    throughout."""
    with exclusive_lock(out_path, "evaluation") if out_path is not None else contextlib.nullcontext():
        configure_torch(threads, device)
        keys = load_embeddings(keys_path, "keys")
        test_q, test_t = open_labels(labels_dir, keys, keys_path).split("test")
        model, payload = load_checked_model(model_path, keys, allow_other_keys)
        check_model_outputs(model, test_t.shape[1], model_path, labels_dir)
        t0 = time.perf_counter()
        conventions = {"rank_ties": "index", "recall_at_1pct": "ceil", **(conventions or {})}
        metrics = evaluate_model(model, keys, test_q, test_t, batch_size, device, **conventions)
        record = {**conventions, **(run or {}), **payload.get("train_info", {}), **metrics,
                  "eval_seconds": time.perf_counter() - t0}
        if out_path is not None:
            atomic_write_json(out_path, record)
    return record


def ivf_baselines(keys_path: str | Path, labels_dir: str | Path, out_csv: str | Path, cfg: dict[str, Any],
                  dataset: str = "", threads: int = 1, index_path: str | Path | None = None) -> list[dict[str, Any]]:
    """Natural-query IVF sweep, exact search and HNSW on the test queries; one CSV row per operating point.

    The IVF index is written to ``index_path`` (if given) for the projected-query runs to search the same lists. The
    natural sweep is measured here once per dataset and index, over ``cfg['nprobes']``
    (:func:`amips.index.ivf.nprobe_grid`); the IVF experiments read its ``ivf natural`` rows from this CSV. Timing
    protocol and load columns: :mod:`amips.index.timing` (``cfg``: timing_repeats, quiet_load).
    """
    import faiss

    from amips.index.ivf import build_ivf, nprobe_grid
    from amips.index.sweeps import exact_search_row, faiss_hnsw_sweep, hnsw_sweep, ivf_sweep
    from amips.index.timing import sweep_timing
    from amips.reporting.tables import write_csv

    configure_torch(threads, "cpu")
    faiss.omp_set_num_threads(max(1, threads))
    cfg = section("experiments.ivf", cfg, validate=False)
    timing = sweep_timing(cfg)
    keys = load_embeddings(keys_path, "keys")
    test_q, test_t = open_labels(labels_dir, keys, keys_path).split("test")
    ivf = build_ivf(keys, cfg.get("nlist"), seed=int(cfg["seed"]))
    if index_path is not None:
        ivf.save(index_path)
    k_values = list(cfg["k_values"])
    rows = [{"method": "ivf natural", **r}
            for r in ivf_sweep(ivf, test_q, test_t[:, 0], nprobe_grid(ivf.nlist, cfg.get("nprobes")), k_values,
                               **timing)]
    rows.append({"method": "exact", **exact_search_row(keys, test_q, k_values, threads=threads, **timing)})
    if cfg.get("hnsw_ef"):
        rows += [{"method": "hnsw", **r} for r in hnsw_sweep(keys, test_q, test_t[:, 0], list(cfg["hnsw_ef"]), k_values,
                                                             threads=threads, **timing)]
        if cfg["faiss_hnsw"]:
            rows += [{"method": "hnsw faiss", **r}
                     for r in faiss_hnsw_sweep(keys, test_q, test_t[:, 0], list(cfg["hnsw_ef"]), k_values, **timing)]
    rows = [{"dataset": dataset, **r} for r in rows]
    write_csv(pd.DataFrame(rows), out_csv)
    return rows


def ivf_projected(model_path: str | Path, keys_path: str | Path, labels_dir: str | Path, out_csv: str | Path,
                  cfg: dict[str, Any], run: dict[str, Any], threads: int = 1, batch_size: int = 1024,
                  index_path: str | Path | None = None) -> list[dict[str, Any]]:
    """IVF sweep with the model's predicted key as the query; network FLOPs and wall-clock added to the cost.

    ``index_path``: the index of :func:`ivf_baselines` (same lists as the natural query); built afresh if None.
    """
    import faiss

    from amips.evaluation.evaluate import predict
    from amips.exact.flops import query_flops
    from amips.index.ivf import build_ivf, load_ivf, nprobe_grid
    from amips.index.sweeps import ivf_sweep
    from amips.index.timing import sweep_timing
    from amips.reporting.tables import write_csv

    configure_torch(threads, "cpu")
    faiss.omp_set_num_threads(max(1, threads))
    cfg = section("experiments.ivf", cfg, validate=False)
    keys = load_embeddings(keys_path, "keys")
    test_q, test_t = open_labels(labels_dir, keys, keys_path).split("test")
    model = load_checked_model(model_path, keys)[0]
    projected = predict(model, test_q, batch_size)[1][:, 0, :]
    net_seconds = model_seconds_per_query(model, test_q, batch_size, with_key=True, device="cpu")
    ivf = load_ivf(index_path) if index_path else build_ivf(keys, cfg.get("nlist"), seed=int(cfg["seed"]))
    rows = ivf_sweep(ivf, projected, test_t[:, 0], nprobe_grid(ivf.nlist, cfg.get("nprobes")),
                     list(cfg["k_values"]), extra_flops=query_flops(model), extra_seconds=net_seconds,
                     **sweep_timing(cfg))
    rows = [{**run, "method": f"ivf {run['model']} ({run['homogenization']})", "network_flops": query_flops(model),
             "network_seconds": net_seconds, **r} for r in rows]
    write_csv(pd.DataFrame(rows), out_csv)
    return rows


def router_curves(keys_path: str | Path, labels_dir: str | Path, out_csv: str | Path, model_path: str | Path | None = None,
                  run: dict[str, Any] | None = None, threads: int = 1, batch_size: int = 1024) -> list[dict[str, Any]]:
    """Match rate vs keys scanned when routing to the top-r k-means clusters: learned router or centroids."""
    from amips.evaluation.evaluate import predict
    from amips.exact.flops import query_flops
    from amips.evaluation.router import centroid_scores, routing_curve
    from amips.reporting.tables import write_csv

    configure_torch(threads, "cpu")
    keys = load_embeddings(keys_path, "keys")
    labels = open_labels(labels_dir, keys, keys_path)
    test_q, test_t = labels.split("test")
    assignments = labels.array("assignments", "cluster assignments")
    sizes = np.bincount(assignments, minlength=test_t.shape[1])
    true_scores = np.einsum("ncd,nd->nc", keys[test_t], test_q)
    if model_path is None:
        centroids = labels.array("centroids", "centroids")
        scores, flops, method = centroid_scores(test_q, centroids), 2.0 * keys.shape[1] * len(centroids), "centroid routing"
    else:
        model = load_checked_model(model_path, keys)[0]
        if model.num_outputs != test_t.shape[1]:
            raise InputError(f"router {model_path} has {model.num_outputs} outputs but the labels have {test_t.shape[1]} clusters")
        scores = predict(model, test_q, batch_size)[0]
        flops = float(query_flops(model, with_key=False))
        method = f"{run['model']} router ({run['homogenization']})" if run else "learned router"
    rows = [{**(run or {}), "method": method, "router_flops": flops, **r}
            for r in routing_curve(scores, true_scores, sizes, keys.shape[1], flops)]
    write_csv(pd.DataFrame(rows), out_csv)
    return rows
