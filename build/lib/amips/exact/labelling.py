"""Labelling a query set: noise-augmented copies and the exact (per-cluster) top-1 key of every row."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from amips.core.progress import ProgressLog
from amips.core.schema import section
from amips.core.resources import check_fits
from amips.data.augment import augment_queries
from amips.exact.clustering import Clustering, kmeans
from amips.exact.labels import exact_topk, per_cluster_top1

log = logging.getLogger("amips.exact.labelling")


@dataclass(frozen=True)
class Labels:
    """Noise-augmented queries [N, d], the source query of each row [N], exact per-cluster top-1 keys [N, C],
    the key clustering, and the seconds spent in exact search."""

    queries: np.ndarray
    source: np.ndarray
    targets: np.ndarray
    clustering: Clustering
    seconds: float


def label_queries(keys: np.ndarray, queries: np.ndarray, cfg: dict[str, Any], device: str = "cpu") -> Labels:
    """Noise-augment ``queries`` and find the exact (per-cluster) top-1 key of every row (``cfg`` as in make_labels).

    A search that takes more than a few seconds logs its progress (``labels: 12288/30000 rows (41%), 410 rows/s,
    ETA 20s``, :class:`amips.core.progress.ProgressLog`)."""
    cfg = section("labels", cfg, validate=False)  # the schema's defaults for what cfg leaves out
    seed = int(cfg["seed"])
    rows = queries.shape[0] * (1 + int(cfg["noise_copies"]))
    check_fits(12 * rows * queries.shape[1], f"labelling {rows} query rows (with noise copies) of dimension "
                                             f"{queries.shape[1]}")
    augmented, source = augment_queries(queries, int(cfg["noise_copies"]), float(cfg["noise_std"]), seed,
                                        cfg["query_norms"])
    num_clusters = int(cfg["num_clusters"])
    clustering = kmeans(keys, num_clusters, seed=seed)
    chunks = {"query_chunk": int(cfg["query_chunk"]), "key_chunk": int(cfg["key_chunk"])}
    t0 = time.perf_counter()
    if num_clusters == 1:
        with ProgressLog(augmented.shape[0], "labels", "rows", logger=log) as progress:
            targets = exact_topk(augmented, keys, 1, device=device, progress=progress.update, **chunks)[1]
    else:
        with ProgressLog(augmented.shape[0] * num_clusters, f"labels ({num_clusters} clusters)", "row-cluster pairs",
                         logger=log) as progress:
            targets = per_cluster_top1(augmented, keys, clustering.assignments, num_clusters, device=device,
                                       progress=progress.update, **chunks)
    return Labels(augmented, source, targets, clustering, time.perf_counter() - t0)
