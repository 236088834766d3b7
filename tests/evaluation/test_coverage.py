"""Argmax coverage: unit-norm keys are all exposed; log-normal norms hide short keys."""

from __future__ import annotations

import numpy as np

from amips.evaluation.coverage import key_coverage
from amips.data.sets import gaussian_sphere, structured_embeddings
from amips.exact.labels import exact_topk


def test_unit_norm_keys_are_all_hit_and_spread_hides_keys():
    unit = gaussian_sphere(500, 300, 8, seed=0)
    spread = gaussian_sphere(500, 300, 8, seed=0, key_norm_spread=0.5)
    np.testing.assert_allclose(spread.keys / np.linalg.norm(spread.keys, axis=1, keepdims=True), unit.keys, atol=1e-6)
    for ds, everything in ((unit, True), (spread, False)):
        targets = exact_topk(ds.queries, ds.keys, 1)[1][:, 0]
        cov = key_coverage(ds.keys, targets, num_directions=2000)
        assert cov["hit_by_queries"] == np.unique(targets).size <= cov["hit_by_directions"]
        assert (cov["hit_by_directions"] == 500) is everything


def test_zero_spread_is_bit_identical_and_spread_is_lognormal():
    a = structured_embeddings(4000, 200, 16, seed=3)
    b = structured_embeddings(4000, 200, 16, seed=3, key_norm_spread=0.0, query_norm_spread=0.0)
    assert np.array_equal(a.keys, b.keys) and np.array_equal(a.queries, b.queries)
    c = structured_embeddings(4000, 200, 16, seed=3, key_norm_spread=0.7, query_norm_spread=0.3)
    log_k = np.log(np.linalg.norm(c.keys, axis=1))
    assert abs(np.std(log_k) - 0.7) < 0.05 and abs(np.median(log_k)) < 0.05
    assert abs(np.std(np.log(np.linalg.norm(c.queries, axis=1))) - 0.3) < 0.06
    np.testing.assert_allclose(c.keys / np.linalg.norm(c.keys, axis=1, keepdims=True), a.keys, atol=1e-6)
