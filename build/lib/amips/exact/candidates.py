"""Float32 candidates for the exact top-k (amips.exact.order): every key within the error margin of the k-th best.

A :class:`CandidatePool` collects, for a chunk of c queries, the keys whose float32 score ŝ is at least the running
k-th best float32 score minus the query's margin 2e(q) (:func:`amips.exact.order.candidate_margins`). Engines feed
it score blocks (:func:`add_block_numpy`, :func:`add_block_torch`) or their own float32 top lists; the pool raises
its thresholds as better scores arrive, drops what falls below them, and :meth:`CandidatePool.result` re-scores the
survivors exactly. Memory stays O(c·k + one block) even when many keys tie: a pool grown past ``exact_limit`` pairs
is cut to each query's exact top-k (entries beaten by k others in the exact order can never come back).
"""

from __future__ import annotations

import numpy as np

from amips.exact.order import exact_scores, first_k_per_row, float32_floor, order_rows, select_topk

EXACT_LIMIT = 1 << 20  # pairs in a pool before it is cut to the exact top-k of each query


class CandidatePool:
    """Candidate (row, key) pairs of ``c`` queries for their exact top-k.

    Args:
        queries: [c, d] the queries of this chunk (for exact re-scoring).
        keys: [m, d] all keys (indices in pairs are global).
        k: neighbours wanted.
        margins: [c] float64, 2e(q) of each query.
    """

    def __init__(self, queries: np.ndarray, keys: np.ndarray, k: int, margins: np.ndarray,
                 exact_limit: int = EXACT_LIMIT) -> None:
        self.queries, self.keys, self.k = queries, keys, k
        self.margins = margins
        self.kth = np.full(len(margins), -np.inf)  # lower bound of each query's k-th best float32 score
        self.rows = np.empty(0, np.int64)
        self.cols = np.empty(0, np.int64)
        self.s32 = np.empty(0, np.float64)
        self.s64 = np.empty(0, np.float64)  # exact score, NaN until computed
        self.exact_limit = max(exact_limit, 4 * k * len(margins))

    @property
    def threshold(self) -> np.ndarray:
        """[c] float64: a key scoring below this in float32 is not in the query's exact top-k."""
        return self.kth - self.margins

    def raise_kth(self, values: np.ndarray, rows: np.ndarray | slice = slice(None)) -> None:
        """kth[rows] ← max(kth[rows], values): ``values`` must be k-th best float32 scores of some key subset."""
        self.kth[rows] = np.maximum(self.kth[rows], values)

    def add(self, rows: np.ndarray, cols: np.ndarray, s32: np.ndarray) -> None:
        """Add pairs with their float32 scores; raise thresholds (k > 1), drop what falls below them."""
        if rows.size == 0:
            return
        self.rows = np.concatenate([self.rows, rows.astype(np.int64, copy=False)])
        self.cols = np.concatenate([self.cols, cols.astype(np.int64, copy=False)])
        self.s32 = np.concatenate([self.s32, s32.astype(np.float64)])
        self.s64 = np.concatenate([self.s64, np.full(rows.size, np.nan)])
        if self.k > 1:
            self._raise_from_pool()
        keep = self.s32 >= self.threshold[self.rows]
        self._keep(keep)
        if self.rows.size > self.exact_limit:
            self._cut_to_exact_topk()

    def _keep(self, mask: np.ndarray) -> None:
        self.rows, self.cols, self.s32, self.s64 = self.rows[mask], self.cols[mask], self.s32[mask], self.s64[mask]

    def _raise_from_pool(self) -> None:
        """kth ← the k-th best float32 score among each query's pairs (pairs are distinct keys)."""
        order = np.lexsort((-self.s32, self.rows))
        rows, s32 = self.rows[order], self.s32[order]
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        counts = np.diff(np.r_[starts, rows.size])
        full = counts >= self.k
        self.raise_kth(s32[starts[full] + self.k - 1], rows[starts[full]])

    def _fill_exact(self) -> None:
        """Compute the exact scores still missing (NaN) in the pool."""
        todo = np.isnan(self.s64)
        self.s64[todo] = exact_scores(self.queries, self.keys, self.rows[todo], self.cols[todo])

    def _cut_to_exact_topk(self) -> None:
        """Keep only each query's exact top-k pairs."""
        self._fill_exact()
        order = order_rows(self.rows, self.cols, self.s64)
        self._keep(order)
        self._keep(first_k_per_row(self.rows, self.k))

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(exact scores [c, k] float64, key indices [c, k] int64), best first; ties: lower index first."""
        self._fill_exact()
        return select_topk(self.queries, self.keys, self.rows, self.cols, len(self.margins), self.k, self.s64)


def add_block_numpy(pool: CandidatePool, block: np.ndarray, offset: int) -> None:
    """Feed the float32 scores ``block`` [c, b] of keys offset … offset+b−1 (in any order of blocks) to ``pool``.

    ``block`` is scratch: its entries may be overwritten. For k = 1 each row's maximum is a candidate if it is
    within the margin of the running best; other keys of the block matter only if the row's second-largest score
    is too, so the full threshold comparison runs only on those (rare) rows.
    """
    k, b = pool.k, block.shape[1]
    if k == 1:
        best_col = block.argmax(axis=1)
        all_rows = np.arange(block.shape[0])
        best = block[all_rows, best_col]
        pool.raise_kth(best)
        floor = float32_floor(pool.threshold)
        rows = np.flatnonzero(best >= floor)
        if rows.size == 0:
            return
        pool.add(rows, best_col[rows] + offset, best[rows])
        block[rows, best_col[rows]] = -np.inf  # taken; now look for a second key within the margin
        second = block.max(axis=1)[rows] if 4 * rows.size > block.shape[0] else block[rows].max(axis=1)
        rows = rows[second >= floor[rows]]
    else:
        unseeded = np.flatnonzero(np.isneginf(pool.kth))
        if unseeded.size and b >= k:  # a first threshold from this block's own k-th best scores
            pool.raise_kth(np.partition(block[unseeded], b - k, axis=1)[:, b - k], unseeded)
        floor = float32_floor(pool.threshold)
        rows = np.arange(block.shape[0])
    if rows.size == 0:
        return
    sub = block[rows] if rows.size < block.shape[0] else block
    flat = np.flatnonzero(sub >= floor[rows][:, None])  # far faster than a 2-D nonzero
    hit_r, hit_c = np.divmod(flat, b)
    pool.add(rows[hit_r], hit_c + offset, sub.reshape(-1)[flat])


def add_block_torch(pool: CandidatePool, block, offset: int) -> None:
    """:func:`add_block_numpy` for a torch tensor ``block`` [c, b] on any device (only the hits leave it)."""
    import torch

    k, b = pool.k, block.shape[1]
    if k == 1:
        tile_best = block.max(dim=1).values.double().cpu().numpy()
        pool.raise_kth(tile_best)
        rows = np.flatnonzero(tile_best >= float32_floor(pool.threshold))
    else:
        unseeded = np.flatnonzero(np.isneginf(pool.kth))
        if unseeded.size and b >= k:
            sel = torch.from_numpy(unseeded).to(block.device)
            pool.raise_kth(torch.topk(block[sel], k, dim=1).values[:, -1].double().cpu().numpy(), unseeded)
        rows = np.arange(block.shape[0])
    if rows.size == 0:
        return
    sel = torch.from_numpy(rows).to(block.device)
    sub = block.index_select(0, sel) if rows.size < block.shape[0] else block
    floor = torch.from_numpy(float32_floor(pool.threshold[rows])).to(block.device)
    hit = torch.nonzero(sub >= floor[:, None])
    hit_r, hit_c = hit[:, 0], hit[:, 1]
    values = sub[hit_r, hit_c].double().cpu().numpy()
    hit_r, hit_c = hit_r.cpu().numpy(), hit_c.cpu().numpy()
    pool.add(rows[hit_r], hit_c + offset, values)
