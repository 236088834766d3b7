"""The labels stage (rule exact_labels, workflow/rules/labels.smk): noise-augmented queries, their exact
(per-cluster) top-1 targets and the train/val/test split, written as one labels folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from amips.data.augment import split_rows
from amips.exact.labelling import label_queries
from amips.data.folders import load_dataset
from amips.data.io import atomic_save_npy, atomic_write_json
from amips.data.locks import exclusive_lock
from amips.data.manifest import remove_manifest, write_manifest
from amips.core.fingerprint import array_digest
from amips.core.schema import section
from amips.training.validation import carve_validation


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
