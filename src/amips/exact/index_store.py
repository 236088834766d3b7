"""Faiss search indexes that are built once, saved, and read back checked: IVF and HNSW, both inner product.

* IVF: ``IndexIVFFlat`` with a flat inner-product coarse quantiser (:mod:`amips.exact.ivf`; the index that
  ``amips fit --retrieval …`` saves as ``OUT.ivf`` is one);
* HNSW: ``IndexHNSWFlat`` with ``METRIC_INNER_PRODUCT``.

Both are *flat* indexes: they store the keys themselves (float32, by key row). :func:`open_index` reads an existing
index file and checks it against the keys it is to search — its kind, its size and dimension, and the stored
vectors, bit for bit and by row — so an index built over other keys (even of the same shape) is refused; a missing
file is built and written atomically (:func:`amips.data.io.atomic_path`, recorded as amips' own output).

Searching (:func:`index_search`) takes a *probe* (the query x, or a model's predicted key ĝ(x)) and either returns the
index's own order of the probe's float32 scores (``rerank='none'``), or re-ranks the index's candidates — every key
of the probed IVF lists, or the max(ef, k) keys of the HNSW walk — by the query x in the exact order of
:mod:`amips.exact.order` (``rerank='query'``): the probe routes, the query ranks.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from amips.data.io import InputError, atomic_path, exclusive_lock
from amips.exact.ivf import IvfIndex, build_ivf, ivf_lists
from amips.exact.order import candidate_margins, exact_scores, max_row_norm, order_rows

log = logging.getLogger("amips.exact.index_store")

KINDS = ("ivf", "hnsw")
KIND_NAMES = {"ivf": "IVF index (IndexIVFFlat)", "hnsw": "HNSW index (IndexHNSWFlat)"}
HNSW_M = 32  # links per node of a new HNSW index
HNSW_EF_CONSTRUCTION = 40  # faiss' default
HNSW_EF_SEARCH = 64
RERANKS = ("query", "none")
FAISS_EXTRA = 16  # IVF re-ranking asks faiss for k + this many candidates before falling back to every scanned key
PAIR_BLOCK_BYTES = 2**26  # float32 gathered (query, key) rows per block when scoring candidate pairs
CHECK_ROWS = 1 << 16  # stored vectors compared with the keys at a time


@dataclass
class SearchIndex:
    """A faiss index over keys [m, d]: ``kind`` 'ivf' (``ivf`` holds its lists) or 'hnsw'."""

    kind: str
    index: Any
    ivf: IvfIndex | None = None

    @property
    def num_keys(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @property
    def nlist(self) -> int | None:
        return self.ivf.nlist if self.ivf is not None else None

    @property
    def hnsw_m(self) -> int | None:
        return int(self.index.hnsw.nb_neighbors(1)) if self.kind == "hnsw" else None

    @property
    def ef_construction(self) -> int | None:
        return int(self.index.hnsw.efConstruction) if self.kind == "hnsw" else None

    def describe(self) -> str:
        """``IVF index of 44 lists over 2000 keys`` / ``HNSW index (M 32, efConstruction 40) over 2000 keys``."""
        if self.kind == "ivf":
            return f"IVF index of {self.nlist} lists over {self.num_keys} keys"
        return f"HNSW index (M {self.hnsw_m}, efConstruction {self.ef_construction}) over {self.num_keys} keys"


def set_threads(threads: int) -> None:
    """faiss' OpenMP threads (a multi-threaded HNSW build is not reproducible)."""
    import faiss

    faiss.omp_set_num_threads(max(1, int(threads)))


def build_index(keys: np.ndarray, kind: str, nlist: int | None = None, seed: int = 0, hnsw_m: int | None = None,
                ef_construction: int | None = None) -> SearchIndex:
    """A new index over keys [m, d]: IVF with ``nlist`` lists (default ⌊√m⌋, k-means seed ``seed``), or HNSW with
    ``hnsw_m`` links per node and ``ef_construction`` (defaults :data:`HNSW_M`, :data:`HNSW_EF_CONSTRUCTION`; level
    draw seed ``seed``)."""
    import faiss

    if kind == "ivf":
        ivf = build_ivf(keys, nlist, seed=seed)
        return SearchIndex("ivf", ivf.index, ivf)
    if kind != "hnsw":
        raise InputError(f"unknown index kind {kind!r}; choose one of {', '.join(KINDS)}")
    keys = np.ascontiguousarray(keys, np.float32)
    m_links = hnsw_m or HNSW_M
    index = faiss.IndexHNSWFlat(keys.shape[1], m_links, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction or HNSW_EF_CONSTRUCTION
    index.hnsw.rng = faiss.RandomGenerator(int(seed))
    log.info("building an HNSW index: M %d, efConstruction %d over %d keys (d = %d)", m_links,
             index.hnsw.efConstruction, keys.shape[0], keys.shape[1])
    index.add(keys)
    return SearchIndex("hnsw", index)


def write_index(index: SearchIndex, path: str | Path) -> None:
    """Write ``index`` (faiss format) atomically, recorded as written by amips."""
    import faiss

    with atomic_path(path) as tmp:
        faiss.write_index(index.index, str(tmp))


def read_index(path: str | Path, name: str = "--index") -> SearchIndex:
    """The IVF or HNSW index in the faiss file ``path``; errors start with ``<name> <path>:``."""
    import faiss

    path = Path(path)
    where = f"{name} {path}"
    if not path.exists():
        raise InputError(f"{where}: file not found")
    if path.is_dir():
        raise InputError(f"{where}: is a directory, not a faiss index file")
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        raise InputError(f"{where}: not a faiss index file (corrupt, truncated or another format)") from exc
    kinds = {"ivf": faiss.IndexIVFFlat, "hnsw": faiss.IndexHNSWFlat}
    kind = next((name for name, cls in kinds.items() if isinstance(index, cls)), None)
    if kind is None:
        raise InputError(f"{where}: a faiss {type(index).__name__}; search reads IndexIVFFlat or IndexHNSWFlat "
                         "(inner product)")
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise InputError(f"{where}: an {KIND_NAMES[kind]} with metric {_metric_name(index.metric_type)}; "
                         "search needs inner product")
    if kind == "hnsw":
        return SearchIndex("hnsw", index)
    return SearchIndex("ivf", index, ivf_lists(index, where))


def _metric_name(metric: int) -> str:
    import faiss

    return {faiss.METRIC_L2: "L2", faiss.METRIC_INNER_PRODUCT: "inner product"}.get(metric, str(metric))


def stored_vectors(index: SearchIndex) -> list[tuple[np.ndarray, np.ndarray]]:
    """The vectors a flat index stores, as (key rows [b], vectors [b, d] float32) blocks (views, no copy)."""
    import faiss

    d = index.dim
    if index.kind == "hnsw":
        storage = faiss.downcast_index(index.index.storage)
        flat = np.asarray(faiss.rev_swig_ptr(storage.get_xb(), index.num_keys * d)).reshape(-1, d)
        return [(np.arange(s, min(s + CHECK_ROWS, flat.shape[0])), flat[s : s + CHECK_ROWS])
                for s in range(0, flat.shape[0], CHECK_ROWS)]
    invlists, blocks = index.index.invlists, []
    for lst in np.flatnonzero(index.ivf.list_sizes):
        size = int(index.ivf.list_sizes[lst])
        ids = np.asarray(faiss.rev_swig_ptr(invlists.get_ids(int(lst)), size), np.int64)
        codes = faiss.rev_swig_ptr(invlists.get_codes(int(lst)), size * invlists.code_size)
        blocks.append((ids, np.asarray(codes).view(np.float32).reshape(size, d)))
    return blocks


def check_index(index: SearchIndex, keys: np.ndarray, kind: str, path: str | Path, name: str = "--index",
                keys_name: str = "--keys") -> None:
    """Refuse ``index`` (read from ``path``) unless it is of ``kind`` and holds exactly the keys [m, d], row by row.

    Messages start with ``<name> <path>:`` and name the keys by ``keys_name``.
    """
    where = f"{name} {path}"
    if index.kind != kind:
        raise InputError(f"{where}: an {KIND_NAMES[index.kind]}, not the {KIND_NAMES[kind]} asked for")
    m, d = keys.shape
    if index.num_keys != m:
        raise InputError(f"{where}: built over {index.num_keys} keys, {keys_name} has {m}")
    if index.dim != d:
        raise InputError(f"{where}: built over keys of dimension {index.dim}, {keys_name} has dimension {d}")
    for rows, stored in stored_vectors(index):
        expected = np.ascontiguousarray(keys[rows], np.float32)
        if not np.array_equal(stored.view(np.uint32), expected.view(np.uint32)):
            bad = rows[np.flatnonzero((stored.view(np.uint32) != expected.view(np.uint32)).any(axis=1))]
            raise InputError(f"{where}: built over other keys than {keys_name} (same {m} × {d}, key row "
                             f"{int(bad.min())} differs); give the index built over these keys, or a new {name} path")


def read_checked_ivf(path: str | Path, keys: np.ndarray, name: str = "--ivf-index",
                     keys_name: str = "--keys") -> IvfIndex:
    """The IVF index (IndexIVFFlat, inner product) at ``path``, refused in one line unless it holds exactly the keys
    [m, d] (:func:`check_index`): what ``fit --ivf-index``, ``evaluate --ivf-index`` and a retrieval term's partition
    read."""
    index = read_index(path, name)
    check_index(index, keys, "ivf", path, name, keys_name)
    return index.ivf


def open_index(path: str | Path, keys: np.ndarray, kind: str, nlist: int | None = None, seed: int = 0,
               hnsw_m: int | None = None, ef_construction: int | None = None, name: str = "--index",
               keys_name: str = "--keys") -> tuple[SearchIndex, bool]:
    """(index, built): the index at ``path`` read and checked against keys [m, d] (:func:`check_index`), or, if
    there is no file, a new one (:func:`build_index`) written there atomically under a lock.

    Settings given for a read index must match it (``nlist``, ``hnsw_m``, ``ef_construction``; None: its own).
    """
    path = Path(path)
    if not path.exists():
        with exclusive_lock(path, "amips search building this index"):
            if not path.exists():
                t0 = time.perf_counter()
                index = build_index(keys, kind, nlist, seed, hnsw_m, ef_construction)
                write_index(index, path)
                log.info("built an %s in %.2f s; saved to %s %s", index.describe(), time.perf_counter() - t0, name,
                         path)
                return index, True
    t0 = time.perf_counter()
    index = read_index(path, name)
    check_index(index, keys, kind, path, name, keys_name)
    wanted = (("--nlist", nlist, index.nlist, "{} lists"), ("--hnsw-m", hnsw_m, index.hnsw_m, "M {}"),
              ("--ef-construction", ef_construction, index.ef_construction, "efConstruction {}"))
    for option, given, has, what in wanted:
        if given is not None and given != has:
            raise InputError(f"{option} {given}: {name} {path} was built with {what.format(has)} (leave {option} out "
                             f"to use it, or give a new {name} path)")
    log.info("read %s %s: %s, checked against %s (%.2f s)", name, path, index.describe(), keys_name,
             time.perf_counter() - t0)
    return index, False


# ---------------------------------------------------------------------------------------------------- searching


def index_search(index: SearchIndex, probes: np.ndarray, k: int, nprobe: int = 8, ef_search: int = HNSW_EF_SEARCH,
                 rerank: str = "query", queries: np.ndarray | None = None,
                 keys: np.ndarray | None = None) -> np.ndarray:
    """Top-k key rows [n, k] int64 (−1 where fewer than k keys were found) of each probe [n, d].

    IVF probes the ``nprobe`` lists whose centroids score best with the probe; HNSW walks the graph with the probe at
    efSearch = max(``ef_search``, k). ``rerank='none'``: faiss' own top-k by the probe's float32 scores.
    ``rerank='query'``: the candidates (every key of the probed lists; the max(ef, k) keys of the walk) ranked by
    ``queries`` [n, d] in the exact order of :mod:`amips.exact.order` (needs ``queries`` and ``keys``).
    """
    probes = np.ascontiguousarray(probes, np.float32)
    if rerank not in RERANKS:
        raise InputError(f"unknown rerank {rerank!r}; choose one of {', '.join(RERANKS)}")
    if rerank == "query" and (queries is None or keys is None):
        raise InputError("rerank='query' needs the queries and the keys")
    if index.kind == "ivf":
        if not 1 <= nprobe <= index.nlist:
            raise InputError(f"nprobe={nprobe} must be between 1 and the index's {index.nlist} lists")
        index.index.nprobe = nprobe
        if rerank == "none":
            return index.index.search(probes, k)[1].astype(np.int64)
        return _ivf_reranked(index, probes, queries, keys, k, nprobe)
    if ef_search < 1:
        raise InputError(f"ef_search must be >= 1, got {ef_search}")
    wanted = max(ef_search, k)
    index.index.hnsw.efSearch = wanted
    if rerank == "none":
        return index.index.search(probes, k)[1].astype(np.int64)
    cand = index.index.search(probes, wanted)[1].astype(np.int64)
    rows, cols = np.nonzero(cand >= 0)
    cols = cand[rows, cols]
    return exact_rerank(queries, keys, rows, cols, pair_scores(queries, keys, rows, cols), k)


def _ivf_reranked(index: SearchIndex, probes: np.ndarray, queries: np.ndarray, keys: np.ndarray, k: int,
                  nprobe: int) -> np.ndarray:
    """Every key of the lists the probes select, ranked exactly by the queries.

    faiss scans the lists with the queries for k + :data:`FAISS_EXTRA` float32 candidates; a query whose last
    candidate is still within its error margin of the k-th best (ties, near-ties) gets every key of its lists.
    """
    ivf = index.ivf
    lists = index.index.quantizer.search(probes, nprobe)[1].astype(np.int64)
    q = np.ascontiguousarray(queries, np.float32)
    want = min(k + FAISS_EXTRA, index.num_keys)
    s32, cand = index.index.search_preassigned(q, want, lists, np.zeros(lists.shape, np.float32))
    s32 = s32.astype(np.float64)
    margins = candidate_margins(q, max_row_norm(keys))
    full = cand[:, -1] >= 0
    kth = np.where(cand[:, k - 1] >= 0, s32[:, k - 1], -np.inf)
    overflow = np.flatnonzero(full & (s32[:, -1] >= kth - margins)) if want < index.num_keys else np.empty(0, int)
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
        s32 = np.r_[s32, pair_scores(q, keys, extra_r, extra_c)]
    return exact_rerank(q, keys, rows, cols, s32, k, margins)


def pair_scores(queries: np.ndarray, keys: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """float32 ⟨queries[rows_p], keys[cols_p]⟩ [P] (as float64), a block of pairs at a time."""
    out = np.empty(rows.size, np.float64)
    block = max(1, PAIR_BLOCK_BYTES // (8 * queries.shape[1]))
    for start in range(0, rows.size, block):
        part = slice(start, start + block)
        out[part] = np.einsum("pd,pd->p", np.asarray(queries[rows[part]], np.float32),
                              np.asarray(keys[cols[part]], np.float32))
    return out


def exact_rerank(queries: np.ndarray, keys: np.ndarray, rows: np.ndarray, cols: np.ndarray, s32: np.ndarray, k: int,
                 margins: np.ndarray | None = None) -> np.ndarray:
    """The exact top-k [n, k] (−1 padded) of each query [n, d] among its candidate keys.

    ``rows``/``cols`` [P] are candidate pairs (query row, key row) with float32 scores ``s32`` [P]; ``margins``:
    :func:`amips.exact.order.candidate_margins` of the queries. A pair whose float32 score falls more than its
    query's margin below the query's k-th best float32 score cannot be in the exact top-k; the others are re-scored
    exactly and ordered by :func:`amips.exact.order.order_rows` (score descending, equal scores: lower key first).
    """
    n = queries.shape[0]
    out = np.full((n, k), -1, np.int64)
    if rows.size == 0:
        return out
    if margins is None:
        margins = candidate_margins(queries, max_row_norm(keys))
    order = np.lexsort((-s32, rows))
    rows, cols, s32 = rows[order], cols[order], s32[order]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    counts = np.diff(np.r_[starts, rows.size])
    kth = np.full(n, -np.inf)
    full = counts >= k
    kth[rows[starts[full]]] = s32[starts[full] + k - 1]
    keep = s32 >= (kth - margins)[rows]
    rows, cols = rows[keep], cols[keep]
    scores = exact_scores(queries, keys, rows, cols)
    order = order_rows(rows, cols, scores)
    rows, cols = rows[order], cols[order]
    distinct = np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])]
    rows, cols = rows[distinct], cols[distinct]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    rank = np.arange(rows.size) - np.repeat(starts, np.diff(np.r_[starts, rows.size]))
    first = rank < k
    out[rows[first], rank[first]] = cols[first]
    return out
