"""Hybrid IVF: probe lists with the predicted key ĝ(x), rank the candidates with the natural query x.

Two probe rules over one faiss IVF-Flat index (same lists as plain IVF):

* ``hybrid``: the p lists whose centroids score highest against ĝ(x), ⟨ĝ(x), μ_l⟩.
* ``split``: a = ⌈share·p⌉ lists of the natural query's order, then the first p − a lists of ĝ(x)'s order not
  already taken (so p distinct lists; share = 1 is plain IVF, share = 0 is ``hybrid``).

Per-query cost: network (``network_flops``) + one coarse product per query vector used for probing (2·d·nlist for
``hybrid``, 2 × 2·d·nlist for ``split``) + the scan 2·d·(keys in the probed lists).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Callable

import numpy as np

from amips.routing.routed import centroids_of, order_from_scores, prefix_lists, routed_sweep
from amips.index.ivf import IvfFlatIndex, nprobe_grid

log = logging.getLogger("amips.experiments.hybrid")


def split_lists(order_x: np.ndarray, order_g: np.ndarray, share: float) -> Callable[[int], np.ndarray]:
    """The ``split`` probe rule: p → [n, p] lists, ⌈share·p⌉ from ``order_x`` then the rest from ``order_g``.

    Both orders are [n, nlist] permutations of the lists (best first)."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"split share must be in [0, 1], got {share}")
    n, nlist = order_x.shape
    rows = np.arange(n)[:, None]

    def lists(p: int) -> np.ndarray:
        a = min(p, math.ceil(share * p))
        taken = np.zeros((n, nlist), bool)
        taken[rows, order_x[:, :a]] = True
        rest = order_g[~taken[rows, order_g]].reshape(n, nlist - a)
        return np.concatenate([order_x[:, :a], rest[:, : p - a]], axis=1)

    return lists


def hybrid_sweeps(ivf: IvfFlatIndex, queries: np.ndarray, predicted: np.ndarray, true_top1: np.ndarray,
                  k_values: list[int], network_flops: float, network_seconds: float,
                  split_shares: list[float], nprobes: list[int] | None = None, repeats: int = 1,
                  quiet_load: float | None = None) -> list[dict[str, float]]:
    """Rows of the ``hybrid`` rule and of ``split`` for each share, over the run's nprobe grid.

    Args:
        queries: natural queries x [n, d]; predicted: the model's predicted keys ĝ(x) [n, d].
        true_top1: exact top-1 key of x [n].
        nprobes: the grid (:func:`amips.index.ivf.nprobe_grid` of ``experiments.ivf.nprobes``; None: the full one).
        repeats, quiet_load: the timing protocol (:mod:`amips.index.timing`).
    Rows carry ``probe_rule`` ('hybrid' or 'split'), ``split_share`` (NaN for hybrid) and the columns of
    :func:`amips.routing.routed.routed_sweep`. A non-finite ĝ(x) is a miss at every p. A share of 1 is plain
    IVF — the natural curve rule ivf_baselines measures once per dataset — and is not swept again.
    """
    centroids = centroids_of(ivf)
    d, nlist = queries.shape[1], ivf.nlist
    valid = np.isfinite(predicted).all(axis=1)
    t0 = time.perf_counter()
    order_g = order_from_scores(np.nan_to_num(predicted, nan=0.0, posinf=0.0, neginf=0.0) @ centroids.T)
    g_seconds = (time.perf_counter() - t0) / len(queries)
    t0 = time.perf_counter()
    order_x = order_from_scores(queries @ centroids.T)
    x_seconds = (time.perf_counter() - t0) / len(queries)
    grid = nprobe_grid(nlist) if nprobes is None else list(nprobes)
    coarse = 2.0 * d * nlist
    timing = {"repeats": repeats, "quiet_load": quiet_load}
    rows = [{"probe_rule": "hybrid", "split_share": float("nan"), **r}
            for r in routed_sweep(ivf, queries, prefix_lists(order_g), true_top1, grid, k_values,
                                  network_flops + coarse, network_seconds + g_seconds, valid, **timing)]
    for share in split_shares:
        if share >= 1.0:
            log.info("split share 1 is plain IVF: its curve is the natural sweep of rule ivf_baselines, not rerun")
            continue
        # a query whose ĝ is non-finite still probes its ⌈share·p⌉ natural lists
        lists = split_lists(order_x, order_g, share)
        rows += [{"probe_rule": "split", "split_share": float(share), **r}
                 for r in routed_sweep(ivf, queries, lists, true_top1, grid, k_values, network_flops + 2 * coarse,
                                       network_seconds + g_seconds + x_seconds, **timing)]
    return rows
