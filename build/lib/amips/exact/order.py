"""The one definition of the exact MIPS order, the same on every machine, and the float32 error bound behind it.

**Definition.** The score of query q and key k is s(q, k) = Σ_i fl64(q_i·k_i), the float64 products summed by
numpy's pairwise summation over the d coordinates (:func:`exact_scores`). Keys are ordered by s descending, equal
scores by key index ascending. For float32 inputs every product is exact in float64, and the summation order is
fixed by numpy's code (not by the BLAS kernel, the thread count or the CPU's vector width), so s and the order are
bit-identical on every machine; s differs from the real inner product by at most γ_d(2⁻⁵³)·Σ|q_i k_i|.

**Fast path.** A float32 GEMM (any BLAS kernel, faiss, torch on the CPU or CUDA, any summation order, with or
without FMA) returns ŝ with |ŝ − s| ≤ e(q) = c_d·‖q‖·max_j ‖k_j‖ + a_d, where (Higham, *Accuracy and Stability
of Numerical Algorithms*, §3.1) c_d = γ_{d+2}(2⁻²⁴) + γ_d(2⁻⁵³) — the float32 dot product, the rounding of float64
inputs to float32, and the float64 rounding of s — and a_d = d·2⁻¹²⁵ covers float32 underflow (flush to zero).
If ŝ_(k) is the k-th largest float32 score of a query, its exact top-k keys all satisfy ŝ_j ≥ ŝ_(k) − 2e(q)
(:func:`candidate_margins`): k keys have ŝ ≥ ŝ_(k), so s_(k) ≥ ŝ_(k) − e, and a key of the top k has
ŝ_j ≥ s_j − e ≥ s_(k) − e. Engines therefore keep every key within that margin of the running k-th best float32
score, and :func:`select_topk` re-scores those candidates with :func:`exact_scores`.
"""

from __future__ import annotations

import numpy as np

U32 = 2.0**-24  # unit roundoff of float32
U64 = 2.0**-53  # unit roundoff of float64
PAIR_CHUNK = 8192  # candidate pairs re-scored at a time ([PAIR_CHUNK, d] float64 products)
NORM_CHUNK = 65536  # rows per norm computation (memory-mapped inputs are read piecewise)


def _gamma(n: int, u: float) -> float:
    """γ_n = n·u / (1 − n·u): the relative error bound of an n-term dot product in unit roundoff u."""
    return n * u / (1.0 - n * u)


def error_coefficients(dim: int) -> tuple[float, float]:
    """(c_d, a_d) with |ŝ − s| ≤ c_d·‖q‖·‖k‖ + a_d for any float32 GEMM score ŝ (module docstring).

    c_d carries a 1 % safety factor for the rounding of the norms themselves.
    """
    return 1.01 * (_gamma(dim + 2, U32) + _gamma(dim, U64)), dim * 2.0**-125


def max_row_norm(rows: np.ndarray) -> float:
    """An upper bound of max_j ‖rows_j‖ for an [m, d] array, read in chunks.

    Computed in float32 (no float64 copy of the keys) and raised by 2·γ_d(2⁻²⁴), which covers the rounding of the
    float32 sums of squares and of the input's conversion to float32.
    """
    best = 0.0
    for start in range(0, rows.shape[0], NORM_CHUNK):
        block = np.asarray(rows[start : start + NORM_CHUNK], np.float32)
        best = max(best, float(np.max(np.einsum("nd,nd->n", block, block), initial=0.0)))
    return float(np.sqrt(best)) * (1.0 + 2.0 * _gamma(rows.shape[1] + 2, U32))


def candidate_margins(queries: np.ndarray, key_norm: float) -> np.ndarray:
    """2·e(q) per query [n] float64: a key within this of the k-th best float32 score may be in the exact top-k."""
    c, a = error_coefficients(queries.shape[1])
    norms = np.linalg.norm(np.asarray(queries, np.float64), axis=1)
    return 2.0 * (c * norms * key_norm + a)


def float32_floor(values: np.ndarray) -> np.ndarray:
    """The largest float32 ≤ each float64 value: ``ŝ >= float32_floor(t)`` holds for every float32 ŝ ≥ t."""
    out = values.astype(np.float32)
    above = out.astype(np.float64) > values
    out[above] = np.nextafter(out[above], np.float32(-np.inf))
    return out


def float32_ceil(values: np.ndarray) -> np.ndarray:
    """The smallest float32 ≥ each float64 value: ``ŝ > float32_ceil(t)`` implies ŝ > t."""
    return -float32_floor(-values)


def exact_scores(queries: np.ndarray, keys: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """s(queries[rows_p], keys[cols_p]) for each pair p [P] float64, by the definition (module docstring).

    The products are formed as a C-contiguous [P', d] float64 array and summed along the last axis, which numpy
    does with its fixed pairwise summation (never BLAS).
    """
    out = np.empty(rows.size, np.float64)
    for start in range(0, rows.size, PAIR_CHUNK):
        part = slice(start, start + PAIR_CHUNK)
        products = np.asarray(queries[rows[part]], np.float64) * np.asarray(keys[cols[part]], np.float64)
        out[part] = np.add.reduce(np.ascontiguousarray(products), axis=1)
    return out


def order_rows(rows: np.ndarray, cols: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Permutation sorting pairs by row, then score descending, then key index ascending (the exact order)."""
    return np.lexsort((cols, -scores, rows))


def rank_in_row(rows_sorted: np.ndarray) -> np.ndarray:
    """[P] int64: the position of each entry within its row of a row-sorted pair list (0 for a row's first)."""
    starts = np.flatnonzero(np.r_[True, rows_sorted[1:] != rows_sorted[:-1]])
    counts = np.diff(np.r_[starts, rows_sorted.size])
    return np.arange(rows_sorted.size) - np.repeat(starts, counts)


def first_k_per_row(rows_sorted: np.ndarray, k: int) -> np.ndarray:
    """[P] bool: the first k entries of each row of a row-sorted pair list."""
    return rank_in_row(rows_sorted) < k


def within_margin(rows: np.ndarray, s32: np.ndarray, num_rows: int, k: int, margins: np.ndarray) -> np.ndarray:
    """[P] bool: the candidate pairs that may be in their query's exact top-k (module docstring).

    ``rows`` [P] are the pairs' query rows, ``s32`` [P] their float32 scores, ``margins`` [num_rows] 2e(q)
    (:func:`candidate_margins`). A pair more than its query's margin below the query's k-th best float32 score
    cannot be in the exact top k; a query with fewer than k pairs keeps them all.
    """
    order = np.lexsort((-s32, rows))
    rows_sorted, s_sorted = rows[order], s32[order]
    starts = np.flatnonzero(np.r_[True, rows_sorted[1:] != rows_sorted[:-1]]) if rows.size else np.empty(0, int)
    counts = np.diff(np.r_[starts, rows.size])
    kth = np.full(num_rows, -np.inf)
    full = counts >= k
    kth[rows_sorted[starts[full]]] = s_sorted[starts[full] + k - 1]
    return s32 >= (kth - margins)[rows]


def select_topk(queries: np.ndarray, keys: np.ndarray, rows: np.ndarray, cols: np.ndarray, num_rows: int, k: int,
                scores: np.ndarray | None = None, pad: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of each query among its candidate keys: (scores [n, k] float64, indices [n, k] int64).

    ``rows``/``cols`` [P] are candidate pairs (query row, key index); ``scores`` [P] their exact scores when already
    known. Duplicate pairs (adjacent once sorted) are dropped. A row with fewer than k distinct candidates is an
    engine bug (``RuntimeError``), or with ``pad`` is filled up with index −1 and score −inf.
    """
    if scores is None:
        scores = exact_scores(queries, keys, rows, cols)
    order = order_rows(rows, cols, scores)
    rows, cols, scores = rows[order], cols[order], scores[order]
    distinct = np.r_[np.ones(min(1, rows.size), bool), (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])]
    rows, cols, scores = rows[distinct], cols[distinct], scores[distinct]
    rank = rank_in_row(rows)
    keep = rank < k
    if pad:
        top_scores, top = np.full((num_rows, k), -np.inf), np.full((num_rows, k), -1, np.int64)
        top_scores[rows[keep], rank[keep]], top[rows[keep], rank[keep]] = scores[keep], cols[keep]
        return top_scores, top
    if int(keep.sum()) != num_rows * k or not np.array_equal(np.unique(rows[keep]), np.arange(num_rows)):
        raise RuntimeError("exact top-k: a query has fewer than k candidates (engine bug)")
    return scores[keep].reshape(num_rows, k), cols[keep].reshape(num_rows, k)


def rerank_candidates(queries: np.ndarray, keys: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    """The exact top-k key indices [n, k] (−1 padded) of each query [n, d] among its candidates [n, C] (−1: none):
    the one exact re-rank of every index (:func:`select_topk` with ``pad``)."""
    n, c = candidates.shape
    rows = np.repeat(np.arange(n, dtype=np.int64), c)
    cols = np.asarray(candidates, np.int64).ravel()
    found = cols >= 0
    return select_topk(queries, keys, rows[found], cols[found], n, k, pad=True)[1]
