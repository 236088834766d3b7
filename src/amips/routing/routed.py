"""Routed IVF search: probe lists chosen by any router, rank the candidates with the natural query.

A *router* gives, for each query, an order over the IVF index's lists ``order`` [n, nlist] (best first). Probing
the first p lists of that order and scanning them exactly with the natural query x finds the exact top-1 key iff
its list is among the p probed: recall@1 equals the router's *routing coverage* at p.

Cost per query = the router's own cost (``route_flops``: the centroid product 2·d·nlist for plain IVF, a network for
a learned router, plus the network that predicts a key for hybrid probing) + the scan, 2·d·(keys in the p lists).

Wall-clock follows the timing protocol of :mod:`amips.index.timing` (one faiss call for all queries per operating point,
best of ``repeats``, the caller's thread count; load before/after and ``quiet_machine`` in every row). The natural
query's own curve (plain IVF) is not swept here: it is rule ivf_baselines' ``ivf natural`` rows, which the
experiments' tables read from ``results/{dataset}/ivf/baselines.csv``.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np

from amips.index.ivf import IvfFlatIndex
from amips.index.timing import machine_load, with_protocol

log = logging.getLogger("amips.routing.routed")


def centroids_of(ivf: IvfFlatIndex) -> np.ndarray:
    """The coarse quantiser's centroids μ [nlist, d] (float32)."""
    quantizer = ivf.index.quantizer
    return quantizer.reconstruct_n(0, quantizer.ntotal)


def order_from_scores(scores: np.ndarray) -> np.ndarray:
    """Lists ranked by descending score [n, nlist] → order [n, nlist] int64 (ties: lowest list first).

    A row with a NaN/Inf score (a diverged router) keeps its order but is marked a miss by the sweep."""
    return np.argsort(-np.nan_to_num(scores, nan=-np.inf), axis=1, kind="stable").astype(np.int64)


def prefix_lists(order: np.ndarray) -> Callable[[int], np.ndarray]:
    """The probe rule of a ranking router: the first p lists of ``order`` [n, nlist]."""
    return lambda p: order[:, :p]


def routed_sweep(ivf: IvfFlatIndex, queries: np.ndarray, probe_lists: Callable[[int], np.ndarray],
                 true_top1: np.ndarray, nprobes: list[int], k_values: list[int], route_flops: float,
                 route_seconds: float, valid: np.ndarray | None = None, repeats: int = 1,
                 quiet_load: float | None = None) -> list[dict[str, float]]:
    """Recall when probing the lists ``probe_lists(p)`` [n, p] (distinct per row) and ranking with ``queries`` [n, d].

    Args:
        probe_lists: p → the p lists each query probes (e.g. :func:`prefix_lists` of a router's order).
        true_top1: exact top-1 key of each query [n].
        route_flops, route_seconds: per-query cost of producing ``order`` (centroid product and/or networks).
        valid: [n] bool, False for a query whose router output was non-finite (a miss at every p); all True if None.
        nprobes: the run's grid (:func:`amips.index.ivf.nprobe_grid`); repeats, quiet_load: the timing protocol.
    Returns one row per p: nprobe, recall@k, routing_coverage (= recall@1 by construction), scanned_keys,
    flops = route_flops + 2·d·scanned_keys, seconds = scan + route_seconds, non_finite_queries, and the timing and
    load columns of :func:`amips.index.sweeps.ivf_sweep`.
    """
    n = queries.shape[0]
    valid = np.ones(n, bool) if valid is None else np.asarray(valid, bool)
    true_list = ivf.key_list[true_top1]
    timed = ivf.timed(repeats)
    kmax = max(k_values)
    rows = []
    load_before = machine_load()
    for nprobe in nprobes:
        found = timed.scan_lists(queries, probe_lists(nprobe), kmax)
        idx = found.indices
        covered = (found.lists == true_list[:, None]).any(axis=1) & valid
        row = {"nprobe": nprobe, "scanned_keys": found.cost.scanned, "routing_coverage": float(covered.mean()),
               "flops": float(route_flops + found.cost.flops), "seconds": found.seconds + route_seconds,
               "non_finite_queries": int((~valid).sum())}
        for k in k_values:
            row[f"recall@{k}"] = float(np.mean((idx[:, :k] == true_top1[:, None]).any(axis=1) & valid))
        rows.append(row)
        log.info("routed IVF nprobe %d/%d: recall@1 %.4f, coverage %.4f", nprobe, ivf.nlist, row["recall@1"]
                 if "recall@1" in row else float("nan"), row["routing_coverage"])
    return with_protocol(rows, load_before, n, repeats, quiet_load)
