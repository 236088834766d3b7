"""Results you can trust, in the IVF sweep: non-finite queries are misses; the natural query's coverage is its recall
(from the cross-cutting test_trust.py)."""

from __future__ import annotations

import numpy as np
import pytest

from amips.index.ivf import build_ivf
from amips.index.sweeps import ivf_sweep
from amips.exact.labels import exact_topk


def test_ivf_recall_counts_non_finite_queries_as_misses(rng):
    keys = rng.standard_normal((400, 8)).astype(np.float32)
    queries = rng.standard_normal((30, 8)).astype(np.float32)
    top1 = exact_topk(queries, keys, 1)[1][:, 0]
    ivf = build_ivf(keys, 8)
    broken = queries.copy()
    broken[:10] = np.nan
    row = ivf_sweep(ivf, broken, top1, [8], [1, 5])[0]
    assert row["recall@1"] == pytest.approx(20 / 30) and row["non_finite_queries"] == 10


def test_ivf_coverage_is_the_natural_recall_and_the_hybrid_ceiling(rng):
    keys = rng.standard_normal((500, 8)).astype(np.float32)
    queries = rng.standard_normal((60, 8)).astype(np.float32)
    top1 = exact_topk(queries, keys, 1)[1][:, 0]
    ivf = build_ivf(keys, 10)
    assert (ivf.key_list >= 0).all() and np.bincount(ivf.key_list, minlength=10).tolist() == ivf.list_sizes.tolist()
    for row in ivf_sweep(ivf, queries, top1, [1, 2, 5, 10], [1]):
        assert row["routing_coverage"] == row["recall@1"]  # natural query: found iff its list is probed
    other = queries + rng.standard_normal(queries.shape).astype(np.float32)
    rows = ivf_sweep(ivf, other, top1, [3], [1])
    probed = ivf.index.quantizer.search(other, 3)[1]
    assert rows[0]["routing_coverage"] == np.mean([ivf.key_list[t] in p for t, p in zip(top1, probed)])
