"""Exact top-k labels against brute force and faiss; chunking, ties, per-cluster targets, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from amips.exact.clustering import kmeans
from amips.data.io import InputError
from amips.exact.candidates import CandidatePool, add_block_numpy
from amips.exact.order import candidate_margins, exact_scores, max_row_norm
from amips.exact.labels import exact_topk, per_cluster_top1


def _brute_topk(queries, keys, k):
    """The definition (amips.exact.order) on every pair: exact scores, then score descending, index ascending."""
    n, m = len(queries), len(keys)
    scores = exact_scores(queries, keys, np.repeat(np.arange(n), m), np.tile(np.arange(m), n)).reshape(n, m)
    order = np.lexsort((np.broadcast_to(np.arange(m), scores.shape), -scores), axis=1)[:, :k]
    return np.take_along_axis(scores, order, 1), order


def _fsum_topk(queries, keys, k):
    """An independent reference: each inner product summed exactly (math.fsum of the exact float64 products of
    float32 inputs), ties by lower index; agrees with the definition wherever scores differ by more than ~1e-15."""
    q, kk = queries.astype(np.float64), keys.astype(np.float64)
    scores = np.array([[math.fsum(a * b) for b in kk] for a in q])
    return np.lexsort((np.broadcast_to(np.arange(len(keys)), scores.shape), -scores), axis=1)[:, :k]


BACKENDS = ["numpy", "faiss", "torch"]  # torch is the CUDA code path, run here on the CPU


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k", [1, 3, 7])
@pytest.mark.parametrize("query_chunk,key_chunk", [(7, 13), (64, 1000), (1, 5)])
def test_exact_topk_equals_brute_force_with_uneven_chunks(rng, k, query_chunk, key_chunk, backend):
    keys = rng.standard_normal((103, 9)).astype(np.float32)
    queries = rng.standard_normal((41, 9)).astype(np.float32)
    scores, idx = exact_topk(queries, keys, k, query_chunk=query_chunk, key_chunk=key_chunk, backend=backend)
    ref_s, ref_i = _brute_topk(queries, keys, k)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_array_equal(scores, ref_s)  # bit-identical exact scores
    assert idx.dtype == np.int64 and scores.dtype == np.float64


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k", [1, 2, 10])
@pytest.mark.parametrize("key_chunk", [128, 700, 65536])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_many_duplicate_keys_across_tiles_and_faiss_blocks(rng, backend, k, key_chunk, dtype):
    """Ties among keys far apart: across numpy tiles / key chunks and faiss' internal 1024-key blocks, with
    enough queries (64 > 20) for faiss' BLAS path; the lowest indices win, in order. float32 GEMMs give identical
    keys different scores depending on the BLAS tile (findings §8); the exact re-scoring does not. float64 keys are
    converted chunk by chunk (faiss then runs per key chunk)."""
    base = rng.standard_normal((50, 12)).astype(np.float32)
    keys = base[rng.integers(0, 50, 3000)].astype(dtype)  # 3000 keys, each ~60 copies of one of 50 vectors
    queries = np.concatenate([base[:40], rng.standard_normal((24, 12)).astype(np.float32)])
    scores, idx = exact_topk(queries, keys, k, query_chunk=64, key_chunk=key_chunk, backend=backend)
    ref_s, ref_i = _brute_topk(queries, keys, k)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_array_equal(scores, ref_s)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k", [1, 4])
def test_near_ties_below_float32_resolution(rng, backend, k):
    """Groups of keys 1e-7 apart (below float32 resolution of the scores, ~1e-6 here): float32 cannot order them,
    the exact order does, and it is the order of the exactly summed inner products."""
    base = rng.standard_normal((30, 48)).astype(np.float32)
    keys = np.repeat(base, 20, axis=0)
    keys += (rng.standard_normal(keys.shape) * 1e-7).astype(np.float32)
    queries = np.concatenate([base[:20], rng.standard_normal((44, 48)).astype(np.float32)])
    _, idx = exact_topk(queries, keys, k, query_chunk=32, key_chunk=100, backend=backend)
    np.testing.assert_array_equal(idx, _fsum_topk(queries, keys, k))
    float32_top1 = (queries @ keys.T).argmax(1)
    assert (float32_top1 != idx[:, 0]).any()  # the case is real: float32 alone gets some of them wrong


def test_candidates_stay_bounded_when_every_key_ties():
    """All keys identical: every key is a candidate; a pool grown past its limit is cut to the exact top-k, so its
    size stays within the limit plus one block, and the lowest indices still win."""
    keys = np.ones((5000, 4), np.float32)
    queries = np.ones((8, 4), np.float32)
    pool = CandidatePool(queries, keys, 3, candidate_margins(queries, max_row_norm(keys)), exact_limit=0)
    assert pool.exact_limit == 4 * 3 * 8
    largest = 0
    for start in range(0, 5000, 500):
        add_block_numpy(pool, queries @ keys[start : start + 500].T, start)
        largest = max(largest, pool.rows.size)
    assert largest <= 8 * 3
    assert (pool.result()[1] == [0, 1, 2]).all()
    for backend in BACKENDS:
        assert (exact_topk(queries, keys, 3, query_chunk=8, key_chunk=1000, backend=backend)[1] == [0, 1, 2]).all()


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
    keys[200:260] = keys[:60]  # duplicates across clusters and within them
    queries = rng.standard_normal((50, 10)).astype(np.float32)
    clustering = kmeans(keys, 5, seed=0)
    targets = per_cluster_top1(queries, keys, clustering.assignments, 5, query_chunk=13, key_chunk=31,
                               backend=backend)
    scores = exact_scores(queries, keys, np.repeat(np.arange(50), 400), np.tile(np.arange(400), 50)).reshape(50, 400)
    for c in range(5):
        masked = np.where(clustering.assignments[None, :] == c, scores, -np.inf)
        np.testing.assert_array_equal(targets[:, c], masked.argmax(1))  # argmax: the first (lowest) index
    # the best cluster's target (highest exact score, then lowest index) is the global top-1
    best = np.lexsort((targets, -np.take_along_axis(scores, targets, 1)), axis=1)[:, 0]
    np.testing.assert_array_equal(targets[np.arange(50), best], exact_topk(queries, keys, 1)[1][:, 0])


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
