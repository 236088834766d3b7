"""Exact top-k maximum inner product search in chunks (never the full n×m score matrix).

The result is the exact order of :mod:`amips.exact.order` — float64 scores with a fixed summation order, equal
scores: lower key index first — so labels are bit-identical on every CPU, BLAS kernel, thread count and GPU.
Engines compute fast float32 scores (on the CPU numpy BLAS GEMM tiles or faiss.knn, the faster measured once per
machine, see amips.exact.label_backend; on CUDA torch matmuls), keep every key within the float32 error margin of the
k-th best (:mod:`amips.exact.candidates`) and re-score those candidates exactly.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import numpy as np
import torch

from amips.exact.candidates import CandidatePool, add_block_numpy, add_block_torch
from amips.exact.order import candidate_margins, float32_floor, max_row_norm
from amips.data.io import InputError

Progress = Callable[[int], None]  # told the number of query rows done after each chunk

# Width of the numpy engine's GEMM tiles (keys per tile): measured best of 256–65536 on Zen 4 (bench_labels).
NUMPY_TILE_COLUMNS = 4096
# Neighbours faiss returns beyond k per key slice: a query with more candidates than that is recomputed by numpy.
FAISS_EXTRA = 3


def resolve_device(device: str | None) -> str:
    """'auto' / None → 'cuda' when available else 'cpu'; otherwise the given name (checked)."""
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {device!r} requested but CUDA is not available")
    return device


def _chunks(total: int, size: int) -> Iterator[slice]:
    for start in range(0, total, size):
        yield slice(start, min(start + size, total))


def _exact_topk_numpy(
    queries: np.ndarray, keys: np.ndarray, k: int, query_chunk: int, key_chunk: int,
    tile_columns: int = NUMPY_TILE_COLUMNS, progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """numpy BLAS engine: GEMM tiles of ≤ query_chunk × min(key_chunk, tile_columns) float32 scores, each reduced to
    its candidates while hot (:func:`amips.exact.candidates.add_block_numpy`), then the candidates re-scored exactly.

    A tile of 2048 × 4096 float32 scores (32 MiB) is reduced right after its GEMM, while it is still in cache; one
    2048 × 65536 block (512 MiB) would be written to and re-read from DRAM.
    """
    n, m = queries.shape[0], keys.shape[0]
    cols = max(1, min(key_chunk, tile_columns))
    key_norm = max_row_norm(keys)
    out_s = np.empty((n, k), np.float64)
    out_i = np.empty((n, k), np.int64)
    # one score buffer reused by every tile (a fresh array per GEMM costs page faults and zeroing)
    buffer = np.empty(min(n, query_chunk) * min(m, cols), np.float32)
    for qs in _chunks(n, query_chunk):
        chunk = np.asarray(queries[qs])
        q = np.ascontiguousarray(chunk, dtype=np.float32)
        pool = CandidatePool(chunk, keys, k, candidate_margins(chunk, key_norm))
        for ks in _chunks(m, key_chunk):
            key_block = np.asarray(keys[ks], dtype=np.float32)
            for ts in _chunks(key_block.shape[0], cols):
                tile = key_block[ts]
                block = buffer[: q.shape[0] * tile.shape[0]].reshape(q.shape[0], tile.shape[0])
                np.matmul(q, tile.T, out=block)
                add_block_numpy(pool, block, ks.start + ts.start)
        out_s[qs], out_i[qs] = pool.result()
        if progress is not None:
            progress(qs.stop - qs.start)
    return out_s, out_i


def _exact_topk_faiss(
    queries: np.ndarray, keys: np.ndarray, k: int, query_chunk: int, key_chunk: int, progress: Progress | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """faiss engine: ``faiss.knn`` (the kernel of IndexFlatIP.search) for the float32 candidates, re-scored exactly.

    faiss is asked for k + :data:`FAISS_EXTRA` neighbours per key slice; a query whose last returned score is still
    within its margin of the k-th best may have more candidates than faiss returned (many ties or near-ties), and
    is recomputed over all keys by the numpy engine.
    """
    import faiss

    n, m = queries.shape[0], keys.shape[0]
    key_norm = max_row_norm(keys)
    out_s = np.empty((n, k), np.float64)
    out_i = np.empty((n, k), np.int64)
    # float32 C-order keys (in memory or memory-mapped) go to faiss whole, as IndexFlatIP.search would: its own
    # blocks bound the memory. Other keys are converted one key chunk at a time.
    whole = keys.dtype == np.float32 and keys.flags.c_contiguous
    key_slices = [slice(0, m)] if whole else list(_chunks(m, key_chunk))
    for qs in _chunks(n, query_chunk):
        chunk = np.asarray(queries[qs])
        q = np.ascontiguousarray(chunk, dtype=np.float32)
        pool = CandidatePool(chunk, keys, k, candidate_margins(chunk, key_norm))
        overflow = np.zeros(q.shape[0], bool)
        for ks in key_slices:
            key_block = np.ascontiguousarray(keys[ks], dtype=np.float32)
            b = key_block.shape[0]
            want = min(k + FAISS_EXTRA, b)
            cand_s, cand_i = faiss.knn(q, key_block, want, metric=faiss.METRIC_INNER_PRODUCT)
            if b >= k:
                pool.raise_kth(cand_s[:, k - 1])
            floor = float32_floor(pool.threshold)
            if want < b:
                overflow |= cand_s[:, -1] >= floor
            hit_r, hit_c = np.nonzero(cand_s >= floor[:, None])
            pool.add(hit_r, cand_i[hit_r, hit_c] + ks.start, cand_s[hit_r, hit_c])
        best_s, best_i = pool.result()
        if overflow.any():
            rows = np.flatnonzero(overflow)
            best_s[rows], best_i[rows] = _exact_topk_numpy(chunk[rows], keys, k, query_chunk, key_chunk)
        out_s[qs], out_i[qs] = best_s, best_i
        if progress is not None:
            progress(qs.stop - qs.start)
    return out_s, out_i


# CPU engines for exact_topk(backend=...); 'auto' picks one per machine (amips.exact.label_backend).
CPU_ENGINES: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "numpy": _exact_topk_numpy,
    "faiss": _exact_topk_faiss,
}
BACKENDS = ("auto", *CPU_ENGINES, "torch")


def exact_topk(
    queries: np.ndarray,
    keys: np.ndarray,
    k: int = 1,
    query_chunk: int = 2048,
    key_chunk: int = 65536,
    device: str | None = "cpu",
    backend: str = "auto",
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k MIPS: (scores [n, k] float64, indices [n, k] int64) in the exact order of amips.exact.order.

    Scores are the exact float64 scores; best first, equal scores: lower index first; the same on every machine.
    Memory is O(query_chunk × key_chunk) beyond the inputs, which may be memory-mapped.

    Args:
        queries: [n, d].
        keys: [m, d].
        k: number of neighbours, 1 ≤ k ≤ m.
        query_chunk, key_chunk: block sizes (any positive ints; need not divide n or m).
        device: 'cpu', 'cuda' / 'cuda:N', or 'auto' (CUDA when available).
        backend: 'numpy' (BLAS tiles) or 'faiss' (faiss.knn), CPU only; 'torch' (any device; the CUDA path);
            'auto': torch on CUDA, and on the CPU the engine measured fastest on this machine
            (:func:`amips.exact.label_backend.cpu_engine`, cached per machine; AMIPS_LABEL_BACKEND forces one).
        progress: called with the number of query rows done after each chunk of ``query_chunk`` queries (e.g.
            :meth:`amips.core.progress.ProgressLog.update`).
    """
    if queries.ndim != 2 or keys.ndim != 2:
        raise InputError(f"queries and keys must be 2-D, got shapes {queries.shape} and {keys.shape}")
    if queries.shape[1] != keys.shape[1]:
        raise InputError(f"queries have dimension {queries.shape[1]} but keys have dimension {keys.shape[1]}")
    m = keys.shape[0]
    if not 1 <= k <= m:
        raise InputError(f"k={k} must be between 1 and the number of keys m={m}")
    if query_chunk < 1 or key_chunk < 1:
        raise InputError("query_chunk and key_chunk must be >= 1")
    device = resolve_device(device)
    if backend not in BACKENDS:
        raise InputError(f"unknown label backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend in CPU_ENGINES and device != "cpu":
        raise InputError(f"the {backend} label backend runs on the CPU only")
    if backend == "torch" or device.startswith("cuda"):
        return _exact_topk_torch(queries, keys, k, query_chunk, key_chunk, device, progress)
    if backend == "auto":
        from amips.exact.label_backend import cpu_engine

        backend = cpu_engine(CPU_ENGINES, keys.shape[1], k, flop=2.0 * queries.shape[0] * m * keys.shape[1])
    return CPU_ENGINES[backend](queries, keys, k, query_chunk, key_chunk, progress=progress)


@contextlib.contextmanager
def _full_float32_matmuls() -> Iterator[None]:
    """Float32 matmuls in full float32 (no TF32 or reduced-precision reductions), as the error bound assumes."""
    precision, tf32 = torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32
    torch.set_float32_matmul_precision("highest")
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(precision)
        torch.backends.cuda.matmul.allow_tf32 = tf32


def _exact_topk_torch(
    queries: np.ndarray, keys: np.ndarray, k: int, query_chunk: int, key_chunk: int, device: str,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """torch path (the CUDA one): key chunks moved to ``device`` once; each float32 block reduced to its candidates
    on the device (:func:`amips.exact.candidates.add_block_torch`), which are re-scored exactly on the CPU."""
    n, m = queries.shape[0], keys.shape[0]
    key_norm = max_row_norm(keys)
    key_blocks = [(ks, torch.from_numpy(np.ascontiguousarray(keys[ks], np.float32)).to(device))
                  for ks in _chunks(m, key_chunk)]
    out_s = np.empty((n, k), np.float64)
    out_i = np.empty((n, k), np.int64)
    with _full_float32_matmuls():
        for qs in _chunks(n, query_chunk):
            chunk = np.asarray(queries[qs])
            q = torch.from_numpy(np.ascontiguousarray(chunk, np.float32)).to(device)
            pool = CandidatePool(chunk, keys, k, candidate_margins(chunk, key_norm))
            for ks, kb in key_blocks:
                add_block_torch(pool, q @ kb.T, ks.start)
            out_s[qs], out_i[qs] = pool.result()
            if progress is not None:
                progress(qs.stop - qs.start)
    return out_s, out_i


def per_cluster_top1(
    queries: np.ndarray,
    keys: np.ndarray,
    assignments: np.ndarray,
    num_clusters: int,
    query_chunk: int = 2048,
    key_chunk: int = 65536,
    device: str | None = "cpu",
    backend: str = "auto",
    progress: Progress | None = None,
) -> np.ndarray:
    """Global index of the best key *within each cluster*: [n, C] int64 (router targets).

    Runs exact top-1 on each cluster's keys in turn (total work = one pass over all keys); ties: lowest index.
    With backend 'auto' on the CPU the engine is chosen once, for the whole pass (see :func:`exact_topk`).
    An empty cluster is an error. ``progress`` is called with the rows done in each cluster's pass (n × C in all).
    """
    if backend == "auto" and resolve_device(device) == "cpu" and keys.ndim == 2:
        from amips.exact.label_backend import cpu_engine

        backend = cpu_engine(CPU_ENGINES, keys.shape[1], 1, flop=2.0 * queries.shape[0] * keys.shape[0] * keys.shape[1])
    out = np.empty((queries.shape[0], num_clusters), np.int64)
    for c in range(num_clusters):
        members = np.flatnonzero(assignments == c)
        if members.size == 0:
            raise InputError(f"cluster {c} has no keys; use fewer clusters")
        _, local = exact_topk(queries, keys[members], 1, query_chunk, key_chunk, device, backend, progress)
        out[:, c] = members[local[:, 0]]
    return out
