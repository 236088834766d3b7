"""Noise augmentation and the leak-free split."""

from __future__ import annotations

import numpy as np
import pytest

from amips.data.augment import MIN_TEST_ROWS, augment_queries, split_rows
from amips.data.sets import gaussian_sphere, structured_embeddings


def test_augmented_copies_are_unit_and_grouped_by_source(rng):
    queries = gaussian_sphere(2, 10, 8, seed=0).queries
    out, source = augment_queries(queries, 3, 0.02, seed=1)
    assert out.shape == (40, 8) and source.tolist() == np.repeat(np.arange(10), 4).tolist()
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(out[::4], queries, atol=1e-6)  # the clean copy comes first
    assert 0 < np.abs(out[1::4] - queries).max() < 0.2


def test_split_by_source_has_no_sibling_leakage():
    _, source = augment_queries(np.eye(50, dtype=np.float32), 4, 0.02)
    train, test = split_rows(source, 0.2, seed=0)
    assert set(source[train]).isdisjoint(source[test])
    assert len(train) + len(test) == len(source) and abs(len(test) - 50) <= 5


def test_pooled_split_reproduces_official_leakage():
    _, source = augment_queries(np.eye(50, dtype=np.float32), 4, 0.02)
    train, test = split_rows(source, 50, seed=0, by_source=False)
    assert len(test) == 50 and set(source[train]) & set(source[test])


def test_split_is_deterministic_and_rejects_bad_sizes():
    source = np.repeat(np.arange(20), 2)
    assert all(np.array_equal(a, b) for a, b in zip(split_rows(source, 0.3, 1), split_rows(source, 0.3, 1)))
    with pytest.raises(ValueError):
        split_rows(source, 40)


def test_structured_generator_is_clustered_and_queries_are_off_keys():
    ds = structured_embeddings(2000, 500, 32, num_clusters=8, seed=0)
    np.testing.assert_allclose(np.linalg.norm(ds.keys, axis=1), 1, rtol=1e-5)
    top = (ds.queries @ ds.keys.T).max(1)
    assert 0.5 < np.median(top) < 0.999  # near, but not on, the keys
    iso = gaussian_sphere(2000, 500, 32, seed=0)
    assert np.median((iso.queries @ iso.keys.T).max(1)) < np.median(top)


def test_query_norms_unit_source_raw():
    rng = np.random.default_rng(0)
    queries = (rng.standard_normal((20, 16)) * rng.uniform(0.5, 3.0, (20, 1))).astype(np.float32)
    unit, source = augment_queries(queries, 3, 0.1, seed=1, query_norms="unit")
    kept, _ = augment_queries(queries, 3, 0.1, seed=1, query_norms="source")
    raw, _ = augment_queries(queries, 3, 0.1, seed=1, query_norms="raw")
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(kept, axis=1), np.linalg.norm(queries, axis=1)[source], rtol=1e-5)
    np.testing.assert_allclose(kept / np.linalg.norm(kept, axis=1, keepdims=True), unit, atol=1e-6)
    np.testing.assert_allclose(raw[::4], queries)  # clean copies unchanged
    assert not np.allclose(np.linalg.norm(raw, axis=1), np.linalg.norm(queries, axis=1)[source], rtol=1e-3)
    with pytest.raises(ValueError, match="query_norms"):
        augment_queries(queries, 1, 0.1, query_norms="sphere")


# --- bad test sizes (from the cross-cutting test_trust.py) ---------------------------------------------------------


@pytest.mark.parametrize("test_size,message", [(1.5, "must be a fraction in (0, 1)"), (1.0, "must be a fraction"),
                                               (float("nan"), "must be a fraction"), (2, "need at least 10 test"),
                                               (1000, "at least one training row"), (True, "row count")])
def test_bad_test_sizes_are_rejected(test_size, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        split_rows(np.repeat(np.arange(100), 2), test_size)


def test_test_size_boundaries_are_accepted():
    source = np.repeat(np.arange(100), 2)
    assert split_rows(source, MIN_TEST_ROWS, by_source=False)[1].size == MIN_TEST_ROWS
    assert split_rows(source, 0.5)[1].size == 100
