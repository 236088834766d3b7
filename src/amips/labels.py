"""Exact top-k maximum inner product search in chunks (never the full n×m score matrix).

Engines: on the CPU numpy BLAS GEMM tiles or faiss.knn (the faster on this machine is measured once and cached,
see amips.label_backend); on CUDA torch matmuls. Ties are broken deterministically: the lower key index wins.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import torch

from amips.io import InputError

# Width of the numpy engine's GEMM tiles (keys per tile): measured best of 256–65536 on Zen 4 (bench_labels).
NUMPY_TILE_COLUMNS = 4096


def resolve_device(device: str | None) -> str:
    """'auto' / None → 'cuda' when available else 'cpu'; otherwise the given name (checked)."""
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {device!r} requested but CUDA is not available")
    return device


def _merge_topk(best_s: np.ndarray, best_i: np.ndarray, cand_s: np.ndarray, cand_i: np.ndarray, k: int):
    """Keep the k best (score desc, index asc) of the union of two candidate sets, row-wise. Shapes [c, *]."""
    scores = np.concatenate([best_s, cand_s], axis=1)
    idx = np.concatenate([best_i, cand_i], axis=1)
    order = np.lexsort((idx, -scores), axis=1)[:, :k]
    return np.take_along_axis(scores, order, 1), np.take_along_axis(idx, order, 1)


def _block_topk(block: np.ndarray, k: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of each row of ``block`` [c, b] with ties resolved to the lowest column; indices shifted by offset."""
    kk = min(k, block.shape[1])
    if kk == 1:
        idx = block.argmax(axis=1)[:, None]  # argmax returns the first maximum
        return np.take_along_axis(block, idx, 1), idx + offset
    part = np.argpartition(-block, kk - 1, axis=1)[:, :kk]
    kth = np.take_along_axis(block, part, 1).min(axis=1, keepdims=True)
    ties = (block >= kth).sum(axis=1) > kk
    if ties.any():  # make boundary ties deterministic: lowest indices among equal scores
        for row in np.flatnonzero(ties):
            cols = np.flatnonzero(block[row] >= kth[row, 0])
            cols = cols[np.lexsort((cols, -block[row, cols]))][:kk]
            part[row] = cols
    vals = np.take_along_axis(block, part, 1)
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(vals, order, 1), np.take_along_axis(part, order, 1) + offset


def _chunks(total: int, size: int) -> Iterator[slice]:
    for start in range(0, total, size):
        yield slice(start, min(start + size, total))


def _top1_update(best_s: np.ndarray, best_i: np.ndarray, block: np.ndarray, offset: int) -> None:
    """In place: best_s/best_i [c, 1] ← the better of themselves and each row's maximum of ``block`` [c, b].

    Strict comparison, so among equal scores the earlier (lower-index) key is kept.
    """
    idx = block.argmax(axis=1)  # the first maximum of each row
    vals = block[np.arange(block.shape[0]), idx]
    better = vals > best_s[:, 0]
    best_s[better, 0] = vals[better]
    best_i[better, 0] = idx[better] + offset


def _topk_update(best_s: np.ndarray, best_i: np.ndarray, block: np.ndarray, k: int, offset: int) -> None:
    """In place: merge the scores ``block`` [c, b] (keys offset..offset+b-1) into the sorted top-k best_s/best_i.

    Blocks arrive in increasing key order, so a score equal to a row's current k-th best can never enter
    (lowest index wins): only scores strictly above it are candidates. Rows are seeded from a short prefix of
    the first block; after that the candidates are few and merged sparsely (densely if many rows change).
    """
    if not np.isfinite(best_s[:, -1]).all():  # the first keys of a query chunk: seed the top-k densely from a
        seed = min(block.shape[1], max(4 * k, 256))  # short prefix, then the thresholds filter the rest
        cand_s, cand_i = _block_topk(block[:, :seed], k, offset)
        best_s[:], best_i[:] = _merge_topk(best_s, best_i, cand_s, cand_i, k)
        block, offset = block[:, seed:], offset + seed
        if block.shape[1] == 0:
            return
    hit = block > best_s[:, -1:]
    hits = int(np.count_nonzero(hit))
    if hits == 0:
        return
    if hits > 4 * k * block.shape[0]:
        rows = np.flatnonzero(hit.any(axis=1))
        cand_s, cand_i = _block_topk(block[rows], k, offset)
        best_s[rows], best_i[rows] = _merge_topk(best_s[rows], best_i[rows], cand_s, cand_i, k)
        return
    hit_rows, hit_cols = np.nonzero(hit)
    rows = np.unique(hit_rows)
    cand_r = np.concatenate([np.repeat(rows, k), hit_rows])
    cand_s = np.concatenate([best_s[rows].ravel(), block[hit_rows, hit_cols]])
    cand_i = np.concatenate([best_i[rows].ravel(), hit_cols.astype(np.int64) + offset])
    order = np.lexsort((cand_i, -cand_s, cand_r))  # by row, then score descending, then index ascending
    cand_r, cand_s, cand_i = cand_r[order], cand_s[order], cand_i[order]
    start = np.searchsorted(cand_r, rows)
    rank = np.arange(cand_r.size) - np.repeat(start, np.diff(np.append(start, cand_r.size)))
    keep = rank < k  # every affected row has >= k candidates (its current best)
    best_s[cand_r[keep], rank[keep]] = cand_s[keep]
    best_i[cand_r[keep], rank[keep]] = cand_i[keep]


def _exact_topk_numpy(
    queries: np.ndarray, keys: np.ndarray, k: int, query_chunk: int, key_chunk: int,
    tile_columns: int = NUMPY_TILE_COLUMNS,
) -> tuple[np.ndarray, np.ndarray]:
    """numpy BLAS engine: GEMM tiles of ≤ query_chunk × min(key_chunk, tile_columns) scores, reduced while hot.

    A tile of 2048 × 4096 float32 scores (32 MiB) is reduced (argmax / threshold) right after its GEMM, while
    it is still in cache; one 2048 × 65536 block (512 MiB) would be written to and re-read from DRAM.
    """
    n, m = queries.shape[0], keys.shape[0]
    cols = max(1, min(key_chunk, tile_columns))
    out_s = np.empty((n, k), np.float32)
    out_i = np.empty((n, k), np.int64)
    # one score buffer reused by every tile (a fresh array per GEMM costs page faults and zeroing)
    buffer = np.empty(min(n, query_chunk) * min(m, cols), np.float32)
    for qs in _chunks(n, query_chunk):
        q = np.ascontiguousarray(queries[qs], dtype=np.float32)
        best_s = np.full((q.shape[0], k), -np.inf, np.float32)
        best_i = np.full((q.shape[0], k), m, np.int64)  # sentinel index m: after every real key
        for ks in _chunks(m, key_chunk):
            key_block = np.asarray(keys[ks], dtype=np.float32)
            for ts in _chunks(key_block.shape[0], cols):
                tile = key_block[ts]
                block = buffer[: q.shape[0] * tile.shape[0]].reshape(q.shape[0], tile.shape[0])
                np.matmul(q, tile.T, out=block)
                if k == 1:
                    _top1_update(best_s, best_i, block, ks.start + ts.start)
                else:
                    _topk_update(best_s, best_i, block, k, ks.start + ts.start)
        out_s[qs], out_i[qs] = best_s, best_i
    return out_s, out_i


def _exact_topk_faiss(
    queries: np.ndarray, keys: np.ndarray, k: int, query_chunk: int, key_chunk: int
) -> tuple[np.ndarray, np.ndarray]:
    """faiss engine: ``faiss.knn`` (the kernel of IndexFlatIP.search) per query chunk, with amips' tie rule.

    k = 1: faiss keeps the first maximum in key order (checked in tests/test_labels.py against the locked faiss),
    and chunks are merged strictly, so the lowest index wins. k > 1: faiss returns ties in heap order, so it is
    asked for k + 1 neighbours; a row whose k-th and (k+1)-th scores are equal in some chunk has a tie at the
    boundary and is recomputed over all keys by the numpy engine. Rows are ordered by (score desc, index asc).
    """
    import faiss

    n, m = queries.shape[0], keys.shape[0]
    out_s = np.empty((n, k), np.float32)
    out_i = np.empty((n, k), np.int64)
    # float32 C-order keys (in memory or memory-mapped) go to faiss whole, as IndexFlatIP.search would: its own
    # blocks bound the memory. Other keys are converted one key chunk at a time.
    whole = keys.dtype == np.float32 and keys.flags.c_contiguous
    key_slices = [slice(0, m)] if whole else list(_chunks(m, key_chunk))
    for qs in _chunks(n, query_chunk):
        q = np.ascontiguousarray(queries[qs], dtype=np.float32)
        best_s = np.full((q.shape[0], k), -np.inf, np.float32)
        best_i = np.full((q.shape[0], k), m, np.int64)
        tied = np.zeros(q.shape[0], bool)
        for ks in key_slices:
            key_block = np.ascontiguousarray(keys[ks], dtype=np.float32)
            b = key_block.shape[0]
            want = 1 if k == 1 else min(k + 1, b)
            cand_s, cand_i = faiss.knn(q, key_block, want, metric=faiss.METRIC_INNER_PRODUCT)
            if k == 1:
                better = cand_s[:, 0] > best_s[:, 0]
                best_s[better, 0], best_i[better, 0] = cand_s[better, 0], cand_i[better, 0] + ks.start
                continue
            if want > k:
                tied |= cand_s[:, k - 1] == cand_s[:, k]
                cand_s, cand_i = cand_s[:, :k], cand_i[:, :k]
            best_s, best_i = _merge_topk(best_s, best_i, cand_s, cand_i + ks.start, k)
        if tied.any():
            rows = np.flatnonzero(tied)
            best_s[rows], best_i[rows] = _exact_topk_numpy(q[rows], keys, k, query_chunk, key_chunk)
        out_s[qs], out_i[qs] = best_s, best_i
    return out_s, out_i


# CPU engines for exact_topk(backend=...); 'auto' picks one per machine (amips.label_backend).
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
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k MIPS: (scores [n, k] float32, indices [n, k] int64), best first; equal scores: lower index first.

    Memory is O(query_chunk × key_chunk) beyond the inputs, which may be memory-mapped.

    Args:
        queries: [n, d].
        keys: [m, d].
        k: number of neighbours, 1 ≤ k ≤ m.
        query_chunk, key_chunk: block sizes (any positive ints; need not divide n or m).
        device: 'cpu', 'cuda' / 'cuda:N', or 'auto' (CUDA when available).
        backend: 'numpy' (BLAS tiles) or 'faiss' (faiss.knn), CPU only; 'torch' (any device; the CUDA path);
            'auto': torch on CUDA, and on the CPU the engine measured fastest on this machine
            (:func:`amips.label_backend.cpu_engine`, cached per machine; AMIPS_LABEL_BACKEND forces one).
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
        return _exact_topk_torch(queries, keys, k, query_chunk, key_chunk, device)
    if backend == "auto":
        from amips.label_backend import cpu_engine

        backend = cpu_engine(CPU_ENGINES, keys.shape[1], k, flop=2.0 * queries.shape[0] * m * keys.shape[1])
    return CPU_ENGINES[backend](queries, keys, k, query_chunk, key_chunk)


def _exact_topk_torch(
    queries: np.ndarray, keys: np.ndarray, k: int, query_chunk: int, key_chunk: int, device: str
) -> tuple[np.ndarray, np.ndarray]:
    """torch path (the CUDA one): key chunks are moved to ``device`` once, blocks reduced with ``torch.topk``."""
    n, m = queries.shape[0], keys.shape[0]
    key_blocks = [(ks, torch.from_numpy(np.ascontiguousarray(keys[ks], np.float32)).to(device)) for ks in _chunks(m, key_chunk)]
    out_s = np.empty((n, k), np.float32)
    out_i = np.empty((n, k), np.int64)
    for qs in _chunks(n, query_chunk):
        q = torch.from_numpy(np.ascontiguousarray(queries[qs], np.float32)).to(device)
        best_s = best_i = None
        for ks, kb in key_blocks:
            block = q @ kb.T
            kk = min(k, block.shape[1])
            vals, idx = torch.topk(block, kk, dim=1)
            kth = vals[:, -1:]
            if bool(((block >= kth).sum(1) > kk).any()):  # rare exact ties at the boundary: resolve on CPU
                vals_np, idx_np = _block_topk(block.cpu().numpy(), k, 0)
                vals, idx = torch.from_numpy(vals_np).to(device), torch.from_numpy(idx_np).to(device)
            idx = idx + ks.start
            if best_s is None:
                best_s, best_i = vals, idx
            else:
                scores = torch.cat([best_s, vals], 1)
                index = torch.cat([best_i, idx], 1)
                # sort by index then stable-sort by score desc → ties keep the lower index first
                order_i = torch.argsort(index, dim=1, stable=True)
                scores, index = scores.gather(1, order_i), index.gather(1, order_i)
                order = torch.argsort(-scores, dim=1, stable=True)[:, :k]
                best_s, best_i = scores.gather(1, order), index.gather(1, order)
        bs, bi = best_s.cpu().numpy(), best_i.cpu().numpy()
        order = np.lexsort((bi, -bs), axis=1)
        out_s[qs], out_i[qs] = np.take_along_axis(bs, order, 1), np.take_along_axis(bi, order, 1)
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
) -> np.ndarray:
    """Global index of the best key *within each cluster*: [n, C] int64 (router targets).

    Runs exact top-1 on each cluster's keys in turn (total work = one pass over all keys); ties: lowest index.
    With backend 'auto' on the CPU the engine is chosen once, for the whole pass (see :func:`exact_topk`).
    An empty cluster is an error.
    """
    if backend == "auto" and resolve_device(device) == "cpu" and keys.ndim == 2:
        from amips.label_backend import cpu_engine

        backend = cpu_engine(CPU_ENGINES, keys.shape[1], 1, flop=2.0 * queries.shape[0] * keys.shape[0] * keys.shape[1])
    out = np.empty((queries.shape[0], num_clusters), np.int64)
    for c in range(num_clusters):
        members = np.flatnonzero(assignments == c)
        if members.size == 0:
            raise InputError(f"cluster {c} has no keys; use fewer clusters")
        _, local = exact_topk(queries, keys[members], 1, query_chunk, key_chunk, device, backend)
        out[:, c] = members[local[:, 0]]
    return out
