"""Exact top-k labels against brute force and faiss; chunking, ties, per-cluster targets, errors."""

from __future__ import annotations

import numpy as np
import pytest

from amips.clustering import kmeans
from amips.io import InputError
from amips.labels import exact_topk, per_cluster_top1


def _brute_topk(queries, keys, k):
    scores = queries @ keys.T
    # stable: by score descending, ties by lower index
    order = np.lexsort((np.broadcast_to(np.arange(keys.shape[0]), scores.shape), -scores), axis=1)[:, :k]
    return np.take_along_axis(scores, order, 1), order


@pytest.mark.parametrize("backend", ["numpy", "faiss", "torch"])
@pytest.mark.parametrize("k", [1, 3, 7])
@pytest.mark.parametrize("query_chunk,key_chunk", [(7, 13), (64, 1000), (1, 5)])
def test_exact_topk_equals_brute_force_with_uneven_chunks(rng, k, query_chunk, key_chunk, backend):
    """The torch backend is the CUDA code path, run here on the CPU."""
    keys = rng.standard_normal((103, 9)).astype(np.float32)
    queries = rng.standard_normal((41, 9)).astype(np.float32)
    scores, idx = exact_topk(queries, keys, k, query_chunk=query_chunk, key_chunk=key_chunk, backend=backend)
    ref_s, ref_i = _brute_topk(queries, keys, k)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(scores, ref_s, rtol=1e-5, atol=1e-5)
    assert idx.dtype == np.int64 and scores.dtype == np.float32


@pytest.mark.parametrize("backend", ["numpy", "faiss"])
@pytest.mark.parametrize("k", [1, 2, 10])
@pytest.mark.parametrize("key_chunk", [128, 700, 65536])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_many_duplicate_keys_across_tiles_and_faiss_blocks(rng, backend, k, key_chunk, dtype):
    """Ties among keys far apart: across numpy tiles / key chunks and faiss' internal 1024-key blocks, with
    enough queries (64 > 20) for faiss' BLAS path; the lowest indices win, in order. float64 keys are
    converted chunk by chunk (faiss then runs per key chunk)."""
    base = rng.standard_normal((50, 12)).astype(np.float32)
    keys = base[rng.integers(0, 50, 3000)].astype(dtype)  # 3000 keys, each ~60 copies of one of 50 vectors
    queries = np.concatenate([base[:40], rng.standard_normal((24, 12)).astype(np.float32)])
    scores, idx = exact_topk(queries, keys, k, query_chunk=64, key_chunk=key_chunk, backend=backend)
    exact = (queries.astype(np.float64) @ keys.T.astype(np.float64))
    ref_i = np.lexsort((np.broadcast_to(np.arange(3000), exact.shape), -exact), axis=1)[:, :k]
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(scores, np.take_along_axis(exact, ref_i, 1), rtol=1e-5, atol=1e-5)


def test_exact_top1_equals_argmax(rng):
    keys = rng.standard_normal((500, 16)).astype(np.float32)
    queries = rng.standard_normal((200, 16)).astype(np.float32)
    _, idx = exact_topk(queries, keys, 1, query_chunk=33, key_chunk=77)
    np.testing.assert_array_equal(idx[:, 0], (queries @ keys.T).argmax(1))


def test_exact_topk_agrees_with_faiss_flat(rng):
    faiss = pytest.importorskip("faiss")
    keys = rng.standard_normal((1000, 24)).astype(np.float32)
    queries = rng.standard_normal((100, 24)).astype(np.float32)
    index = faiss.IndexFlatIP(24)
    index.add(keys)
    ref_s, ref_i = index.search(queries, 5)
    scores, idx = exact_topk(queries, keys, 5, query_chunk=17, key_chunk=300)
    np.testing.assert_allclose(scores, ref_s, rtol=1e-4, atol=1e-4)
    assert (idx == ref_i).mean() > 0.99  # faiss may order near-ties differently


@pytest.mark.parametrize("backend", ["numpy", "faiss", "torch"])
@pytest.mark.parametrize("k", [1, 2, 4])
@pytest.mark.parametrize("key_chunk", [2, 3, 100])
def test_ties_resolve_to_lowest_index(k, key_chunk, backend):
    base = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    keys = np.concatenate([base, base, base])  # every key appears three times: 0=2=4, 1=3=5
    queries = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
    _, idx = exact_topk(queries, keys, k, query_chunk=2, key_chunk=key_chunk, backend=backend)
    expected = {0: [0, 2, 4, 1], 1: [1, 3, 5, 0], 2: [0, 1, 2, 3]}
    for row, want in expected.items():
        assert idx[row].tolist() == want[:k]


def test_memmapped_inputs(tmp_path, rng):
    keys = rng.standard_normal((300, 8)).astype(np.float32)
    np.save(tmp_path / "k.npy", keys)
    mm = np.load(tmp_path / "k.npy", mmap_mode="r")
    queries = rng.standard_normal((20, 8)).astype(np.float32)
    np.testing.assert_array_equal(exact_topk(queries, mm, 2, key_chunk=64)[1], exact_topk(queries, keys, 2)[1])


@pytest.mark.parametrize("backend", ["auto", "numpy", "faiss"])
def test_per_cluster_top1_matches_masked_argmax(rng, backend):
    keys = rng.standard_normal((400, 10)).astype(np.float32)
    queries = rng.standard_normal((50, 10)).astype(np.float32)
    clustering = kmeans(keys, 5, seed=0)
    targets = per_cluster_top1(queries, keys, clustering.assignments, 5, query_chunk=13, key_chunk=31,
                               backend=backend)
    scores = queries @ keys.T
    for c in range(5):
        masked = np.where(clustering.assignments[None, :] == c, scores, -np.inf)
        np.testing.assert_array_equal(targets[:, c], masked.argmax(1))
    # the best cluster's target is the global top-1
    best = np.take_along_axis(scores, targets, 1).argmax(1)
    np.testing.assert_array_equal(targets[np.arange(50), best], scores.argmax(1))


def test_kmeans_single_cluster_is_mean():
    keys = np.arange(12, dtype=np.float32).reshape(4, 3)
    c = kmeans(keys, 1)
    np.testing.assert_allclose(c.centroids[0], keys.mean(0))
    assert (c.assignments == 0).all()


@pytest.mark.parametrize(
    "queries,keys,k,match",
    [
        (np.zeros((3, 4), np.float32), np.zeros((5, 3), np.float32), 1, "dimension"),
        (np.zeros((3, 4), np.float32), np.zeros((5, 4), np.float32), 6, "k=6"),
        (np.zeros((3, 4), np.float32), np.zeros((5, 4), np.float32), 0, "k=0"),
        (np.zeros(4, np.float32), np.zeros((5, 4), np.float32), 1, "2-D"),
    ],
)
def test_bad_label_inputs_raise_clear_errors(queries, keys, k, match):
    with pytest.raises(InputError, match=match):
        exact_topk(queries, keys, k)
