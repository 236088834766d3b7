"""Data scaling: what a learned model reaches against the number of distinct training queries, at fixed keys.

The method amortizes search over a fixed query distribution, so the number of distinct training queries n is the
knob a user controls. For each n the training rows are those of the first n source queries of one seeded
permutation (with their noisy copies; the subsets are nested in n and the same for every model and seed), the
validation and test splits stay those of the labels stage, and every run reports on the test split:

* exhaustive match rate, MRR and key error rn2 (as :mod:`amips.evaluation.evaluate`);
* the routing coverage at p probes of the dataset's IVF index — probing with ĝ(x) and ranking with x reaches
  exactly this recall@1 (the true key is x's best key) — with its cost per query: network + coarse step
  2·d·nlist + scan 2·d·(keys in the probed lists) FLOPs (:func:`amips.index.sweeps.ivf_sweep`);
* from those, the best recall@1 within a FLOP budget (a fraction of exact search), beside plain IVF's.

The controls that depend on the training data (ridge map, blend; identity and c·x do not) are refitted at each n.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from amips.data.io import InputError
from amips.reporting.budgets import Budgets, admits

POINT_METRICS = ("match_rate", "mrr", "key_error_rn2")


def nested_subset(source: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of the rows [N] whose source query is among the first ``n`` of a seeded permutation of the
    distinct sources: for n₁ < n₂ the first subset is inside the second.

    Raises InputError if n is not in [1, number of distinct sources].
    """
    distinct = np.unique(np.asarray(source))
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= distinct.size:
        raise InputError(f"data scaling: {n!r} training queries requested, the training split has {distinct.size} "
                         "distinct source queries")
    chosen = np.random.default_rng(seed).permutation(distinct)[:n]
    return np.flatnonzero(np.isin(source, chosen))


def coverage_rows(ivf: Any, vectors: np.ndarray, true_top1: np.ndarray, nprobes: Sequence[int],
                  network_flops: float) -> list[dict[str, float]]:
    """Routing coverage of ``vectors`` [n, d] (ĝ(x), or x itself with network_flops = 0) at each p of ``nprobes``
    (those ≤ nlist), with its FLOPs per query as :func:`amips.index.sweeps.ivf_sweep` counts them (network + coarse
    step + scanned lists); one row per p: nprobe, routing_coverage, flops, scanned_keys. Coverage needs only the coarse
    step, so the lists are ranked once for the largest p (no list is scanned); a non-finite vector never covers."""
    from amips.data.arrays import finite_rows

    probes = [p for p in nprobes if p <= ivf.nlist]
    if not probes:
        return []
    vectors = np.ascontiguousarray(vectors, np.float32)
    _, order = ivf.index.quantizer.search(vectors, max(probes))
    hit = order == ivf.key_list[true_top1][:, None]  # [n, max p]: the true key's list at rank j
    finite, d = finite_rows(vectors), vectors.shape[1]
    rows = []
    for p in probes:
        scanned = ivf.list_sizes[np.maximum(order[:, :p], 0)].sum(axis=1)
        rows.append({"nprobe": p, "routing_coverage": float((hit[:, :p].any(axis=1) & finite).mean()),
                     "flops": float(2 * d * (ivf.nlist + scanned.mean()) + network_flops),
                     "scanned_keys": float(scanned.mean())})
    return rows


def best_within(rows: Iterable[dict[str, float]], budget_flops: float, value: str = "routing_coverage") -> float:
    """The largest ``value`` among operating points whose ``flops`` fit budget_flops; NaN if there is none."""
    values = [r[value] for r in rows if admits(r["flops"], budget_flops)]
    return max(values) if values else math.nan


def point_record(fields: dict[str, Any], metrics: dict[str, float], rows: list[dict[str, float]],
                 exact_flops: float, budgets: Budgets) -> dict[str, Any]:
    """One row of the scaling table: ``fields`` (dataset, model, n_queries, seed, ...), the exhaustive metrics,
    coverage@p and, per budget b, ``recall@1_at_{b}`` = the best hybrid recall@1 within b × exact FLOPs."""
    record = {**fields, **{k: float(metrics[k]) for k in POINT_METRICS if k in metrics}}
    for r in rows:
        record[f"coverage@{int(r['nprobe'])}"] = r["routing_coverage"]
    for b in budgets.values:
        record[f"recall@1_at_{b:g}"] = best_within(rows, budgets.limit(b, exact_flops))
    return record


def summarize(points: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds of every numeric column, per (dataset, model, n_queries)."""
    keys = ["dataset", "model", "n_queries"]
    numeric = [c for c in points.columns if c not in keys and c != "seed" and pd.api.types.is_numeric_dtype(points[c])]
    grouped = points.groupby(keys, sort=True)[numeric]
    out = grouped.mean().add_suffix("_mean").join(grouped.std(ddof=0).add_suffix("_std"))
    out["seeds"] = points.groupby(keys, sort=True)["seed"].nunique()
    return out.reset_index()
