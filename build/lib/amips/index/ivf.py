"""IVF-Flat: faiss ``IndexIVFFlat`` (⌊√m⌋ lists by default) with the inner product and a flat-IP coarse quantiser,
as in the official evaluation, or L2 (the MIPS-to-L2 reduction, :mod:`amips.index.reduction`).

Searched with the natural query x or a model's predicted key ĝ(x): faiss' own top-k of the probed lists
(``rerank=0``), or every key of the lists that ``route`` (default: the vectors) probes ranked exactly by ``queries``
(``rerank=EVERY``: the probe routes, the query ranks).

**Cost** per query: 2·d·(nlist + keys scanned) FLOPs (the coarse step and the scan), nlist + scanned distances.
**Memory**: 4·d (float keys) + 8 (int64 id) + 4·d·nlist/m (centroids) bytes per key.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from amips.data.io import InputError
from amips.exact.order import candidate_margins, max_row_norm, select_topk, within_margin
from amips.index.base import (EVERY, FLOAT_BYTES, ID_BYTES, Cost, Found, Index, default_nlist, f32, faiss_metric)
from amips.index.store import read_faiss
from amips.index.timing import best_of

log = logging.getLogger("amips.index.ivf")

NPROBE = 8  # lists probed by default
FAISS_EXTRA = 16  # an exact re-rank asks faiss for k + this many candidates before falling back to every scanned key
PAIR_BLOCK_BYTES = 2**26  # float32 gathered (query, key) rows per block when scoring candidate pairs


def ivf_lists(index: Any, where: str = "IVF index") -> tuple[np.ndarray, np.ndarray]:
    """(list sizes [nlist], the list of every key [m]) of a faiss IVF index; its ids must be the key rows
    0 … ntotal−1, each once (errors start with ``where``)."""
    import faiss

    m = int(index.ntotal)
    sizes = np.array([index.invlists.list_size(i) for i in range(index.nlist)], np.int64)
    key_list = np.full(m, -1, np.int64)
    seen = 0
    for lst in np.flatnonzero(sizes):
        ids = np.asarray(faiss.rev_swig_ptr(index.invlists.get_ids(int(lst)), int(sizes[lst])), np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= m):
            raise InputError(f"{where}: its ids are not the key rows 0 … {m - 1} (list {lst} holds id {ids.max()})")
        key_list[ids] = lst
        seen += ids.size
    if seen != m or (key_list < 0).any():
        raise InputError(f"{where}: its ids are not the key rows 0 … {m - 1}, each once")
    return sizes, key_list


class IvfFlatIndex(Index):
    """faiss ``IndexIVFFlat``: ``nlist`` lists (None: ⌊√m⌋), k-means seed ``seed``; after build or load ``index``,
    ``nlist``, ``list_sizes`` [nlist] and ``key_list`` [m] (the list of every key)."""

    name = "ivf_flat"
    param_name = "nprobe"
    stores_float_keys = True
    faiss_class = "IndexIVFFlat"
    options = (("nlist", "--nlist", "{} lists"),)

    def __init__(self, nlist: int | None = None, **kw) -> None:
        super().__init__(**kw)
        self.nlist = nlist
        self.list_sizes = np.empty(0, np.int64)
        self.key_list = np.empty(0, np.int64)

    def describe(self) -> str:
        """``IVF index of 44 lists over 2000 keys``."""
        return f"IVF index of {self.nlist} lists over {self.num_keys} keys"

    def _make(self, data: np.ndarray) -> Any:
        import faiss

        m, d = data.shape
        nlist = self.nlist or default_nlist(m)
        if not 1 <= nlist <= m:
            raise InputError(f"nlist={nlist} must be between 1 and the number of keys m={m}")
        log.info("training an IVF index: %d lists over %d keys (d = %d)", nlist, m, d)
        quantizer = faiss.IndexFlatIP(d) if self.metric == "ip" else faiss.IndexFlatL2(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss_metric(self.metric))
        index.cp.seed = self.seed
        return index

    def _adopt(self, where: str) -> None:
        self.nlist = int(self.index.nlist)
        self.list_sizes, self.key_list = ivf_lists(self.index, where)

    def bytes_per_key(self, m: int, d: int) -> float:
        """4·d (float key) + 8 (id) + 4·d·nlist/m (centroids)."""
        return FLOAT_BYTES * d + ID_BYTES + FLOAT_BYTES * d * (self.nlist or default_nlist(m)) / m

    def search(self, vectors, k=10, probe=NPROBE, rerank=0, queries=None, route=None) -> Found:
        """nprobe = ``probe`` lists (those of ``route``, default ``vectors``); ``rerank`` 0: faiss' own top-k of
        ``vectors`` in them; :data:`EVERY`: every key of the lists ranked exactly by ``queries``
        (:func:`reranked_scan`)."""
        if rerank not in (0, EVERY):
            raise InputError(f"{self.name}: rerank is 0 or every scanned key, got {rerank}")
        self._check_rerank(rerank, queries)
        if not 1 <= probe <= self.nlist:
            raise InputError(f"nprobe={probe} must be between 1 and the index's {self.nlist} lists")
        index, vectors = self.index, f32(vectors)
        index.nprobe = probe
        lists = index.quantizer.search(vectors if route is None else f32(route), probe)[1]
        if rerank:
            (idx, scanned), seconds = best_of(self.repeats, lambda: reranked_scan(self, lists, f32(queries), k))
        else:
            (_, idx), seconds = best_of(self.repeats, lambda: index.search(vectors, k))
            scanned = self.list_sizes[np.maximum(lists, 0)].sum(axis=1).mean()
        seconds /= max(1, vectors.shape[0])
        cost = Cost(2 * self.dim * (self.nlist + scanned), self.nlist + scanned, scanned=float(scanned))
        return Found(idx.astype(np.int64, copy=False), seconds, cost, lists)

    def scan_lists(self, queries: np.ndarray, lists: np.ndarray, k: int) -> Found:
        """The top k of ``queries`` [n, d] among the keys of the lists [n, p] given for each (a router's choice;
        faiss ``search_preassigned``, one call for all queries; −1 where fewer than k were scanned). Cost: the scan
        alone, 2·d·(keys scanned) (the router's cost is the caller's)."""
        lists = np.ascontiguousarray(lists, np.int64)
        self.index.nprobe = lists.shape[1]
        queries, zeros = f32(queries), np.zeros(lists.shape, np.float32)
        (_, idx), seconds = best_of(self.repeats, lambda: self.index.search_preassigned(queries, k, lists, zeros))
        scanned = self.list_sizes[lists].sum(axis=1).mean()
        cost = Cost(2 * self.dim * scanned, float(scanned), scanned=float(scanned))
        return Found(idx, seconds / max(1, queries.shape[0]), cost, lists)


def reranked_scan(ivf: IvfFlatIndex, lists: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """(the exact top-k [n, k] by ``queries`` of every key in each query's ``lists`` [n, nprobe], −1 padded; the
    mean keys scanned per query).

    faiss scans the lists with the queries for k + :data:`FAISS_EXTRA` float32 candidates; a query whose last
    candidate is still within its error margin of the k-th best (ties, near-ties) gets every key of its lists.
    """
    keys, m = ivf.keys, ivf.num_keys
    lists = lists.astype(np.int64)
    want = min(k + FAISS_EXTRA, m)
    s32, cand = ivf.index.search_preassigned(queries, want, lists, np.zeros(lists.shape, np.float32))
    s32 = s32.astype(np.float64)
    margins = candidate_margins(queries, max_row_norm(keys))
    full = cand[:, -1] >= 0
    kth = np.where(cand[:, k - 1] >= 0, s32[:, k - 1], -np.inf)
    overflow = np.flatnonzero(full & (s32[:, -1] >= kth - margins)) if want < m else np.empty(0, int)
    rows, cols = np.nonzero(cand >= 0)
    s32, cols = s32[rows, cols], cand[rows, cols]
    if overflow.size:
        kept = ~np.isin(rows, overflow)
        rows, cols, s32 = rows[kept], cols[kept], s32[kept]
        members = np.argsort(ivf.key_list, kind="stable")
        starts = np.r_[0, np.cumsum(ivf.list_sizes)]
        extra_c = [np.concatenate([members[starts[lst] : starts[lst + 1]] for lst in lists[r]]) for r in overflow]
        extra_r = np.repeat(overflow, [c.size for c in extra_c])
        extra_c = np.concatenate(extra_c)
        rows, cols = np.r_[rows, extra_r], np.r_[cols, extra_c]
        s32 = np.r_[s32, pair_scores(queries, keys, extra_r, extra_c)]
    n = queries.shape[0]
    keep = within_margin(rows, s32, n, k, margins)
    top = select_topk(queries, keys, rows[keep], cols[keep], n, k, pad=True)[1]
    return top, float(ivf.list_sizes[np.maximum(lists, 0)].sum(axis=1).mean())


def pair_scores(queries: np.ndarray, keys: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """float32 ⟨queries[rows_p], keys[cols_p]⟩ [P] (as float64), a block of pairs at a time."""
    out = np.empty(rows.size, np.float64)
    block = max(1, PAIR_BLOCK_BYTES // (8 * queries.shape[1]))
    for start in range(0, rows.size, block):
        part = slice(start, start + block)
        out[part] = np.einsum("pd,pd->p", np.asarray(queries[rows[part]], np.float32),
                              np.asarray(keys[cols[part]], np.float32))
    return out


def build_ivf(keys: np.ndarray, nlist: int | None = None, seed: int = 0) -> IvfFlatIndex:
    """A trained, filled inner-product IVF-Flat index over keys [m, d]."""
    return IvfFlatIndex(nlist, seed=seed).build(keys)


def load_ivf(path: str | Path) -> IvfFlatIndex:
    """The IVF-Flat index a stage of this run wrote (:meth:`IvfFlatIndex.save`), without a check against keys."""
    import faiss

    path = Path(path)
    index = read_faiss(path, f"IVF index file {path}")
    if not isinstance(index, faiss.IndexIVF):
        raise InputError(f"{path} is a faiss index but not an IVF index ({type(index).__name__})")
    ivf = IvfFlatIndex()
    ivf.index = index
    ivf._adopt(str(path))
    return ivf


def nprobe_grid(nlist: int, spec: list[int] | dict[str, Any] | None = None) -> list[int]:
    """The nprobe values every IVF sweep of a run measures (config ``experiments.ivf.nprobes``).

    ``spec``:
    * None or {}: 1, 2, 4, … up to nlist and nlist itself (all lists: the full sweep).
    * a list: those values, sorted, without duplicates, each at most nlist (a larger one means all lists).
    * a dict with a cap — ``max_nprobe`` (lists) and/or ``max_scan_fraction`` (of the lists, in (0, 1]: about the
      share of the keys scanned, lists being of similar size; the cap is ⌊fraction · nlist⌋, at least 1); the
      smaller cap holds: the powers of two up to the cap, and the cap itself unless ``include_cap`` is false.
    """
    if nlist < 1:
        raise InputError(f"nlist must be at least 1, got {nlist}")
    if isinstance(spec, (list, tuple)):
        if not spec or any(isinstance(p, bool) or int(p) != p or p < 1 for p in spec):
            raise InputError(f"experiments.ivf.nprobes: a list of positive integers, got {list(spec)}")
        return sorted({min(int(p), nlist) for p in spec})
    spec = dict(spec or {})
    unknown = set(spec) - {"max_nprobe", "max_scan_fraction", "include_cap"}
    if unknown:
        raise InputError(f"experiments.ivf.nprobes: unknown settings {sorted(unknown)} (max_nprobe, "
                         "max_scan_fraction, include_cap)")
    cap = nlist
    if spec.get("max_nprobe") is not None:
        if int(spec["max_nprobe"]) < 1:
            raise InputError(f"experiments.ivf.nprobes.max_nprobe must be at least 1, got {spec['max_nprobe']}")
        cap = min(cap, int(spec["max_nprobe"]))
    if spec.get("max_scan_fraction") is not None:
        fraction = float(spec["max_scan_fraction"])
        if not 0.0 < fraction <= 1.0:
            raise InputError(f"experiments.ivf.nprobes.max_scan_fraction must be in (0, 1], got {fraction}")
        cap = min(cap, max(1, int(math.floor(fraction * nlist + 1e-9))))
    grid = {1 << i for i in range(int(math.log2(cap)) + 1)}
    if spec.get("include_cap", True):
        grid.add(cap)
    return sorted(grid)
