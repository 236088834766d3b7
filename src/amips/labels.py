"""Exact top-k maximum inner product search in chunks (never the full n×m score matrix).

On CPU the blocks are numpy BLAS GEMMs (faster than torch on CPU for this shape); on CUDA they are torch
matmuls. Ties are broken deterministically: the lower key index wins.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from amips.io import InputError


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


def exact_topk(
    queries: np.ndarray,
    keys: np.ndarray,
    k: int = 1,
    query_chunk: int = 2048,
    key_chunk: int = 65536,
    device: str | None = "cpu",
    backend: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k MIPS: (scores [n, k] float32, indices [n, k] int64), best first.

    Memory is O(query_chunk × key_chunk) beyond the inputs, which may be memory-mapped.

    Args:
        queries: [n, d].
        keys: [m, d].
        k: number of neighbours, 1 ≤ k ≤ m.
        query_chunk, key_chunk: block sizes (any positive ints; need not divide n or m).
        device: 'cpu', 'cuda' / 'cuda:N', or 'auto' (CUDA when available).
        backend: 'numpy' (BLAS, CPU only), 'torch' (any device), or 'auto' (numpy on CPU, torch on CUDA).
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
    if backend not in ("auto", "numpy", "torch"):
        raise InputError(f"unknown label backend {backend!r}; choose auto, numpy or torch")
    if backend == "numpy" and device != "cpu":
        raise InputError("the numpy label backend runs on the CPU only")
    if backend == "torch" or device.startswith("cuda"):
        return _exact_topk_torch(queries, keys, k, query_chunk, key_chunk, device)
    n = queries.shape[0]
    out_s = np.empty((n, k), np.float32)
    out_i = np.empty((n, k), np.int64)
    # One score buffer reused by every block: a fresh block (up to query_chunk × key_chunk × 4 B = 512 MiB by
    # default) per GEMM costs page faults and zeroing, ~30 % of the GEMM time on a 2-core machine.
    buffer = np.empty(min(n, query_chunk) * min(m, key_chunk), np.float32)
    for qs in _chunks(n, query_chunk):
        q = np.ascontiguousarray(queries[qs], dtype=np.float32)
        best_s = np.full((q.shape[0], 0), -np.inf, np.float32)
        best_i = np.zeros((q.shape[0], 0), np.int64)
        for ks in _chunks(m, key_chunk):
            key_block = np.asarray(keys[ks], dtype=np.float32)
            block = buffer[: q.shape[0] * key_block.shape[0]].reshape(q.shape[0], key_block.shape[0])
            np.matmul(q, key_block.T, out=block)
            cand_s, cand_i = _block_topk(block, k, ks.start)
            if best_s.shape[1] == 0:
                best_s, best_i = cand_s, cand_i
            elif k == 1:
                better = cand_s[:, 0] > best_s[:, 0]  # strict: earlier (lower-index) chunk wins ties
                best_s = np.where(better[:, None], cand_s, best_s)
                best_i = np.where(better[:, None], cand_i, best_i)
            else:
                best_s, best_i = _merge_topk(best_s, best_i, cand_s, cand_i, k)
        out_s[qs], out_i[qs] = best_s, best_i
    return out_s, out_i


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
) -> np.ndarray:
    """Global index of the best key *within each cluster*: [n, C] int64 (router targets).

    Runs exact top-1 on each cluster's keys in turn (total work = one pass over all keys).
    An empty cluster is an error.
    """
    out = np.empty((queries.shape[0], num_clusters), np.int64)
    for c in range(num_clusters):
        members = np.flatnonzero(assignments == c)
        if members.size == 0:
            raise InputError(f"cluster {c} has no keys; use fewer clusters")
        _, local = exact_topk(queries, keys[members], 1, query_chunk, key_chunk, device)
        out[:, c] = members[local[:, 0]]
    return out
