"""Off-the-shelf faiss index families searched with the natural query x or with the predicted key ĝ(x) (issue 19).

The paper calls KeyNet "a drop-in replacement for the query, fed directly to off-the-shelf indexing pipelines". This
module puts that to the test on the indexes a user would pick, with every cost counted:

* ``hnsw_ip`` / ``hnsw_l2``: faiss ``IndexHNSWFlat`` (M links) over the keys, inner product or L2. Searched with x
  (baseline, IP), with ĝ under IP and with ĝ under L2 (ĝ lies near a key); the efSearch candidates found with ĝ are
  re-ranked with x.
* ``ivf_pq``: faiss ``IndexIVFPQ`` (IP, residual codes, ⌊√m⌋ lists, M code bytes of 8 bits): probed and scanned
  with x, with ĝ (``ĝ ip``), or probed with ĝ and scanned with x (``ĝ probe``); optionally the top R candidates
  re-ranked exactly with x.
* ``pq`` / ``sq8``: exhaustive ``IndexPQ`` / ``IndexScalarQuantizer`` (QT_8bit), IP; x vs ĝ, ± exact re-rank of R.
* ``hnsw_mips_l2`` / ``ivf_flat_mips_l2``: the MIPS-to-L2 reduction (:func:`mips_to_l2`) in HNSW L2 and IVF-Flat
  L2 — the standard anchor on data whose norms vary.

**Search protocol.** Every search is one batch of all queries, timed best of ``repeats`` (3) with faiss on 1 thread
(:data:`TIMING`). Re-ranking gathers each query's candidate keys from the float32 keys and takes their inner
products with x: the *seconds* time that float32 gather-and-dot (what a deployment runs), and the *indices* returned
follow the exact order of :mod:`amips.exact.order` among the same candidates (so ties resolve as in the labels).
A compressed index scans once per operating point at depth max(k, R) and re-ranks every R of the sweep from that
scan (:class:`CompressedFamily`): a row's seconds are the scan's plus its own re-rank's.

**Costs** (per query; one multiply-add = 2 FLOPs; the network's FLOPs are added by the caller):

=================== =========================================================================================
family              FLOPs
=================== =========================================================================================
hnsw_*              2·d'·(ndis + 1) (faiss ``hnsw_stats.ndis``, + the entry point's distance it leaves out;
                    d' = d, or d + 1 for the reduction) + 2·d·C (the C candidates re-ranked)
ivf_pq              2·d·nlist (coarse) [+ 2·d·nprobe: x's scores of ĝ's lists, ``ĝ probe``] + 2·256·d (the
                    ADC table: 256 centroids × d for the M sub-quantisers together) + M·(codes scanned) + 2·d·R
pq                  2·256·d + M·m + 2·d·R
sq8                 4·d·m (decode one multiply-add and product one multiply-add per coordinate) + 2·d·R
ivf_flat_mips_l2    2·d'·nlist + 2·d'·(keys scanned)
=================== =========================================================================================

``distances`` counts the full-precision d-dimensional products of a query (graph distances, coarse centroids, IVF-Flat
scans, re-ranks); ``codes`` the compressed codes scanned; ``hops`` the graph hops (``hnsw_stats.nhops``).

**Memory** (:meth:`IndexFamily.memory_bytes`, bytes per key, everything the index holds amortised over the m keys;
each formula is checked against ``faiss.serialize_index`` in the tests):

* HNSW: 4·d' (float keys) + 4·(2M + M/(M − 1)) (int32 links: 2M at level 0, M per upper level; a key has
  1/(M − 1) upper levels on average under faiss' level draw with mL = 1/ln M) + 4 (its level) + 8 (its offset).
* IVF-PQ: M (code) + 8 (int64 id) + 4·d·(nlist + 256)/m (coarse centroids and the PQ codebooks).
* PQ: M + 4·256·d/m (codebooks; an exhaustive IndexPQ stores no ids: a key's position is its id).
* SQ8: d + 8·d/m (per-coordinate min and range, float32).
* IVF-Flat (reduction): 4·d' + 8 + 4·d'·nlist/m.

A row that re-ranks a *compressed* index's candidates from the float keys also holds those keys: the row's
``memory_bytes`` adds 4·d (:func:`row_memory`); HNSW and IVF-Flat hold them already. A learned row adds the network's
parameters × 4 bytes / m (the paper's "compress databases" use: the network is part of the memory).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from amips.data.io import InputError, atomic_path
from amips.exact.ivf import best_of, default_nlist
from amips.exact.order import exact_scores, order_rows

log = logging.getLogger("amips.experiments.index_families")

KSUB = 256  # centroids per PQ sub-quantiser (8-bit codes)
ID_BYTES = 8  # faiss idx_t ids of inverted lists
FLOAT_BYTES = 4
TIMING = "one batch of all queries, best of {repeats}, faiss on 1 thread"
RERANK_CHUNK = 128  # queries per gather in the float32 re-rank ([chunk, C, d] float32)


@dataclass
class SearchResult:
    """One search of a batch: indices [n, k] (−1 where fewer were found) and per-query means of the costs."""

    indices: np.ndarray
    distances: float  # full-precision d-dim distance / inner-product evaluations
    seconds: float
    flops: float  # index side only (the network is the caller's)
    hops: float = float("nan")
    codes: float = 0.0  # compressed codes scanned
    reranked: float = 0.0  # candidates re-ranked with x


def mips_to_l2(keys: np.ndarray) -> tuple[np.ndarray, float]:
    """The MIPS-to-L2 reduction: keys [m, d] → ([k, √(M² − ‖k‖²)] [m, d + 1] float32, M = max ‖k‖).

    A query [q, 0] then has ‖q‖² + M² − 2⟨q, k⟩ as its squared L2 distance to every augmented key: the L2 nearest
    augmented key is the MIPS argmax. Norms are computed in float64; the radicand is clipped at 0."""
    keys64 = np.asarray(keys, np.float64)
    sq = np.einsum("md,md->m", keys64, keys64)
    top = float(sq.max()) if sq.size else 0.0
    extra = np.sqrt(np.maximum(top - sq, 0.0))
    return np.ascontiguousarray(np.hstack([keys64, extra[:, None]]), np.float32), math.sqrt(top)


def augment_queries(queries: np.ndarray) -> np.ndarray:
    """Queries [n, d] → [q, 0] [n, d + 1] float32 (the query side of :func:`mips_to_l2`)."""
    queries = np.asarray(queries, np.float32)
    return np.ascontiguousarray(np.hstack([queries, np.zeros((queries.shape[0], 1), np.float32)]))


def rerank_exact(queries: np.ndarray, keys: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    """The exact top-k (order of :mod:`amips.exact.order`) of each query among its candidates [n, C] (−1: none);
    [n, k] int64, −1 padded where a row has fewer than k candidates."""
    n, c = candidates.shape
    rows = np.repeat(np.arange(n, dtype=np.int64), c)
    cols = np.asarray(candidates, np.int64).ravel()
    ok = cols >= 0
    rows, cols = rows[ok], cols[ok]
    order = order_rows(rows, cols, exact_scores(queries, keys, rows, cols))
    rows, cols = rows[order], cols[order]
    distinct = np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])] if rows.size else np.ones(0, bool)
    rows, cols = rows[distinct], cols[distinct]
    starts = np.searchsorted(rows, np.arange(n))
    rank = np.arange(rows.size) - starts[rows]
    keep = rank < k
    out = np.full((n, k), -1, np.int64)
    out[rows[keep], rank[keep]] = cols[keep]
    return out


def rerank_float32(queries: np.ndarray, keys: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    """The float32 re-rank a deployment runs (gather the candidates' keys, inner products with x, top k); timed as
    the re-rank's cost. Its indices can differ from :func:`rerank_exact` only at float32 near-ties."""
    n = candidates.shape[0]
    out = np.empty((n, min(k, candidates.shape[1])), np.int64)
    for start in range(0, n, RERANK_CHUNK):
        cand = candidates[start : start + RERANK_CHUNK]
        scores = np.einsum("ncd,nd->nc", keys[np.maximum(cand, 0)], queries[start : start + RERANK_CHUNK])
        scores[cand < 0] = -np.inf
        top = np.argsort(-scores, axis=1, kind="stable")[:, : out.shape[1]]
        out[start : start + RERANK_CHUNK] = np.take_along_axis(cand, top, axis=1)
    return out


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, np.float32)


def _valid_count(candidates: np.ndarray) -> float:
    return float((candidates >= 0).sum(axis=1).mean()) if candidates.size else 0.0


class IndexFamily:
    """One index family: ``build(keys)``, ``memory_bytes(m, d)``, ``search(vectors, rerank_queries, param)``.

    ``param_name`` names the swept parameter (``ef``, ``nprobe`` or ``rerank``); ``stores_float_keys`` says whether
    the index already holds the float keys (so re-ranking from them costs no extra memory)."""

    name = ""
    param_name = ""
    stores_float_keys = False
    reduction = False  # searched with [x, 0] over mips_to_l2 keys

    def __init__(self, repeats: int = 3, seed: int = 0) -> None:
        self.repeats = int(repeats)
        self.seed = int(seed)
        self.index: Any = None
        self.keys: np.ndarray | None = None
        self.build_seconds = float("nan")

    # --- identity -------------------------------------------------------------------------------------------------
    @property
    def code_bytes(self) -> float:
        return float("nan")

    @property
    def label(self) -> str:
        """The family and its setting, unique within a run (file names of saved indexes)."""
        return self.name

    @property
    def dim(self) -> int:
        """The dimension the index works in (d, or d + 1 for the reduction)."""
        return int(self.index.d)

    # --- build / store --------------------------------------------------------------------------------------------
    def build(self, keys: np.ndarray) -> "IndexFamily":
        """Train and fill the index on keys [m, d] (faiss on the threads set by the caller); records build seconds."""
        self.keys = _f32(keys)
        data = mips_to_l2(self.keys)[0] if self.reduction else self.keys
        t0 = time.perf_counter()
        self.index = self._make(data)
        if not self.index.is_trained:
            self.index.train(data)
        self.index.add(data)
        self.build_seconds = time.perf_counter() - t0
        log.info("%s: built over %d keys (d = %d) in %.1f s", self.label, *data.shape, self.build_seconds)
        return self

    def _make(self, data: np.ndarray) -> Any:
        raise NotImplementedError

    def save(self, path: str | Path) -> None:
        import faiss

        with atomic_path(path) as tmp:
            faiss.write_index(self.index, str(tmp))

    def load(self, path: str | Path, keys: np.ndarray, build_seconds: float = float("nan")) -> "IndexFamily":
        """Read an index written by :meth:`save` for keys [m, d] (refused if its size or dimension differ)."""
        import faiss

        try:
            self.index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise InputError(f"index file is missing or not a faiss index: {path}") from exc
        self.keys = _f32(keys)
        want = keys.shape[1] + (1 if self.reduction else 0)
        if self.index.ntotal != keys.shape[0] or self.index.d != want:
            raise InputError(f"{path} holds {self.index.ntotal} vectors of dimension {self.index.d}; the keys are "
                             f"{keys.shape[0]} × {keys.shape[1]}")
        self.build_seconds = float(build_seconds)
        return self

    # --- memory ---------------------------------------------------------------------------------------------------
    def memory_bytes(self, m: int, d: int) -> float:
        """Bytes per key of the index over m keys of dimension d (module docstring)."""
        raise NotImplementedError

    def serialized_bytes(self) -> int:
        """Size of the built index as faiss serialises it (the check of :meth:`memory_bytes`)."""
        import faiss

        return int(faiss.serialize_index(self.index).size)

    # --- search ---------------------------------------------------------------------------------------------------
    def search(self, vectors: np.ndarray, rerank_queries: np.ndarray | None, param: int, k: int = 10,
               rerank: int = 0, probe_vectors: np.ndarray | None = None) -> SearchResult:
        """Search ``vectors`` [n, d] at ``param``; re-rank candidates with ``rerank_queries`` (x) when given."""
        raise NotImplementedError

    def search_reranks(self, vectors: np.ndarray, rerank_queries: np.ndarray | None, param: int, k: int,
                       reranks: list[int], probe_vectors: np.ndarray | None = None) -> list[SearchResult]:
        """:meth:`search` at each re-rank depth R of ``reranks`` (compressed families share one scan)."""
        return [self.search(vectors, rerank_queries, param, k, r, probe_vectors) for r in reranks]

    def _rerank(self, queries: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
        return rerank_float32(queries, self.keys, candidates, k)


class HnswFamily(IndexFamily):
    """faiss ``IndexHNSWFlat`` (M links, efConstruction) with the inner product (``hnsw_ip``) or L2 (``hnsw_l2``).

    ``search(vectors, rerank_queries, ef)``: efSearch = max(ef, k). With ``rerank_queries`` the max(ef, k) candidates
    returned are re-ranked with them (all of them: the re-rank depth is the ef)."""

    param_name = "ef"
    stores_float_keys = True

    def __init__(self, metric: str = "ip", m_links: int = 32, ef_construction: int = 100, **kw) -> None:
        super().__init__(**kw)
        if metric not in ("ip", "l2"):
            raise ValueError(f"metric must be ip or l2, got {metric!r}")
        self.metric, self.m_links, self.ef_construction = metric, int(m_links), int(ef_construction)
        self.name = f"hnsw_{metric}"

    def _make(self, data: np.ndarray) -> Any:
        import faiss

        metric = faiss.METRIC_INNER_PRODUCT if self.metric == "ip" else faiss.METRIC_L2
        index = faiss.IndexHNSWFlat(data.shape[1], self.m_links, metric)
        index.hnsw.efConstruction = self.ef_construction
        return index

    def memory_bytes(self, m: int, d: int) -> float:
        """4·d (float keys) + 4·(2M + M/(M − 1)) (links, expectation over faiss' level draw) + 4 (level) + 8 (offset);
        the dimension is d + 1 for the reduction."""
        d = d + (1 if self.reduction else 0)
        links = 2 * self.m_links + self.m_links / (self.m_links - 1)
        return FLOAT_BYTES * d + 4.0 * links + 4 + 8

    def link_bytes(self) -> float:
        """Bytes per key of the built graph's link slots (the measured counterpart of the expectation above)."""
        return 4.0 * self.index.hnsw.neighbors.size() / max(1, self.index.ntotal)

    def search(self, vectors, rerank_queries=None, param=16, k=10, rerank=0, probe_vectors=None) -> SearchResult:
        import faiss

        index, stats = self.index, faiss.cvar.hnsw_stats
        ef = int(param)
        depth = max(ef, k) if rerank_queries is not None else k
        index.hnsw.efSearch = max(ef, k)
        vectors = _f32(augment_queries(vectors) if self.reduction else vectors)
        queries = None if rerank_queries is None else _f32(rerank_queries)

        def run():
            stats.reset()
            _, idx = index.search(vectors, depth)
            if queries is not None:
                self._rerank(queries, idx, k)
            return idx

        idx, seconds = best_of(self.repeats, run)
        n = vectors.shape[0]
        ndis, nhops = stats.ndis / n + 1, stats.nhops / n  # + the entry point's distance, which faiss leaves out
        reranked = _valid_count(idx) if queries is not None else 0.0
        if queries is not None:
            idx = rerank_exact(queries, self.keys, idx, k)
        d = self.keys.shape[1]
        return SearchResult(idx[:, :k], distances=ndis + reranked, seconds=seconds / n,
                            flops=2.0 * self.dim * ndis + 2.0 * d * reranked, hops=nhops, reranked=reranked)


class CompressedFamily(IndexFamily):
    """A compressed index: a code scan (``_scan``) returns the top max(k, R) by code score, then the top R are
    re-ranked exactly with x from the float keys (R = 0: no re-rank).

    :meth:`search_reranks` scans once at the largest depth and re-ranks each R from it: each row's seconds are that
    scan's (best of ``repeats``) plus its own re-rank's (best of ``repeats``); a scan at depth max(R) rather than k
    costs the R = 0 row a larger heap (faiss returns the candidates sorted by code score). Keys with *equal* code
    scores (identical codes, common with few code bytes) come out of faiss' heap in an order that depends on its
    depth, so at such a tie the first R of a deeper scan may differ from a depth-R scan; both are valid outputs of
    the index (measured: 0.4 % of queries at R ≤ 10 with PQ M = 16, 50k × 384 clustered keys; none without ties)."""

    def search(self, vectors, rerank_queries=None, param=1, k=10, rerank=0, probe_vectors=None) -> SearchResult:
        return self.search_reranks(vectors, rerank_queries, param, k, [rerank], probe_vectors)[0]

    def _scan(self, vectors: np.ndarray, depth: int, param: int, probe_vectors: np.ndarray | None):
        """(candidates [n, depth] by code score, what ``_scan_cost`` needs)."""
        raise NotImplementedError

    def _scan_cost(self, scanned, param, probe_vectors) -> tuple[float, float, float]:
        """(FLOPs, full-precision distances, codes) per query of the scan."""
        raise NotImplementedError

    def search_reranks(self, vectors, rerank_queries, param, k, reranks, probe_vectors=None) -> list[SearchResult]:
        vectors = _f32(vectors)
        probe = None if probe_vectors is None else _f32(probe_vectors)
        queries = None if rerank_queries is None else _f32(rerank_queries)
        reranks = [int(r) if queries is not None else 0 for r in reranks]
        depth = max([k] + reranks)
        (idx, scanned), scan_seconds = best_of(self.repeats, lambda: self._scan(vectors, depth, param, probe))
        scan_flops, scan_distances, codes = self._scan_cost(scanned, param, probe)
        n, d = vectors.shape[0], self.keys.shape[1]
        out = []
        for rerank in reranks:
            if rerank > 0:
                candidates = np.ascontiguousarray(idx[:, :rerank])
                _, seconds = best_of(self.repeats, lambda: self._rerank(queries, candidates, k))
                reranked = _valid_count(candidates)
                found = rerank_exact(queries, self.keys, candidates, k)
            else:
                seconds, reranked, found = 0.0, 0.0, idx[:, :k]
            out.append(SearchResult(found, distances=scan_distances + reranked, seconds=(scan_seconds + seconds) / n,
                                    flops=scan_flops + 2.0 * d * reranked, codes=codes, reranked=reranked))
        return out


class ProductCodes:
    """Code size and label of a product-quantised family (``m_codes`` bytes of 8 bits per key)."""

    name: str
    m_codes: int

    @property
    def code_bytes(self) -> float:
        return float(self.m_codes)

    @property
    def label(self) -> str:
        return f"{self.name}_M{self.m_codes}"


class IvfPqFamily(ProductCodes, CompressedFamily):
    """faiss ``IndexIVFPQ`` (IP, flat-IP coarse quantiser, residual codes of M bytes, 8 bits each), nlist = ⌊√m⌋.

    ``search(vectors, rerank_queries, nprobe, rerank=R, probe_vectors=p)``: the nprobe lists are those of ``p``
    (default ``vectors``) and are scanned with ``vectors``; when ``p`` is another vector, ``vectors``' own centroid
    scores of those lists are computed (2·d·nprobe, counted) since the residual codes' scores add them. The top R
    by code score are then re-ranked exactly with ``rerank_queries`` from the float keys (R = 0: no re-rank)."""

    name = "ivf_pq"
    param_name = "nprobe"

    def __init__(self, code_bytes: int = 16, nlist: int | None = None, **kw) -> None:
        super().__init__(**kw)
        self.m_codes, self.nlist = int(code_bytes), nlist
        self.list_sizes: np.ndarray | None = None

    def _make(self, data: np.ndarray) -> Any:
        import faiss

        m, d = data.shape
        if d % self.m_codes:
            raise InputError(f"ivf_pq: {self.m_codes} code bytes do not divide the dimension d = {d}")
        self.nlist = self.nlist or default_nlist(m)
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFPQ(quantizer, d, self.nlist, self.m_codes, 8, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = self.seed
        index.pq.cp.seed = self.seed
        return index

    def memory_bytes(self, m: int, d: int) -> float:
        """M (code) + 8 (id) + 4·d·(nlist + 256)/m (centroids and the M codebooks of 256 × d/M floats)."""
        nlist = self.nlist or default_nlist(m)
        return self.m_codes + ID_BYTES + FLOAT_BYTES * d * (nlist + KSUB) / m

    def _centroids(self) -> np.ndarray:
        if getattr(self, "_cent", None) is None:
            self._cent = self.index.quantizer.reconstruct_n(0, self.index.nlist)
        return self._cent

    def _sizes(self) -> np.ndarray:
        if self.list_sizes is None:
            inv = self.index.invlists
            self.list_sizes = np.array([inv.list_size(i) for i in range(self.index.nlist)], np.int64)
        return self.list_sizes

    def _scan(self, vectors, depth, param, probe_vectors):
        index, nprobe = self.index, min(int(param), self.index.nlist)
        index.nprobe = nprobe
        probe = vectors if probe_vectors is None else probe_vectors
        cdis, assign = index.quantizer.search(probe, nprobe)
        if probe_vectors is not None:
            cent = self._centroids()[np.maximum(assign, 0)]
            cdis = np.einsum("npd,nd->np", cent, vectors).astype(np.float32)
        _, idx = index.search_preassigned(vectors, depth, assign, cdis)
        return idx, assign

    def _scan_cost(self, scanned, param, probe_vectors) -> tuple[float, float, float]:
        nlist, d = self.index.nlist, self.keys.shape[1]
        codes = float(self._sizes()[np.maximum(scanned, 0)].sum(axis=1).mean())
        coarse = nlist + (min(int(param), nlist) if probe_vectors is not None else 0)
        return 2.0 * d * coarse + 2.0 * KSUB * d + self.m_codes * codes, float(coarse), codes


class ExhaustiveFamily(CompressedFamily):
    """An exhaustive compressed index (every code scanned): ``search(vectors, rerank_queries, R)`` returns the top
    max(k, R) by code score, the top R re-ranked exactly with ``rerank_queries`` (R = 0: none); the swept
    parameter is R itself."""

    param_name = "rerank"

    def per_code_flops(self, d: int) -> float:
        raise NotImplementedError

    def table_flops(self, d: int) -> float:
        return 0.0

    def search(self, vectors, rerank_queries=None, param=0, k=10, rerank=None, probe_vectors=None) -> SearchResult:
        rerank = int(param if rerank is None else rerank)
        return self.search_reranks(vectors, rerank_queries, param, k, [rerank], probe_vectors)[0]

    def _scan(self, vectors, depth, param, probe_vectors):
        _, idx = self.index.search(vectors, depth)
        return idx, None

    def _scan_cost(self, scanned, param, probe_vectors) -> tuple[float, float, float]:
        m, d = self.keys.shape
        return self.table_flops(d) + self.per_code_flops(d) * m, 0.0, float(m)


class PqFamily(ProductCodes, ExhaustiveFamily):
    """faiss ``IndexPQ`` (IP, M bytes of 8 bits): an ADC table of 2·256·d FLOPs, then M adds per code."""

    name = "pq"

    def __init__(self, code_bytes: int = 16, **kw) -> None:
        super().__init__(**kw)
        self.m_codes = int(code_bytes)

    def _make(self, data: np.ndarray) -> Any:
        import faiss

        if data.shape[1] % self.m_codes:
            raise InputError(f"pq: {self.m_codes} code bytes do not divide the dimension d = {data.shape[1]}")
        index = faiss.IndexPQ(data.shape[1], self.m_codes, 8, faiss.METRIC_INNER_PRODUCT)
        index.pq.cp.seed = self.seed
        return index

    def memory_bytes(self, m: int, d: int) -> float:
        """M (code) + 4·256·d/m (codebooks); no ids (a key's position is its id)."""
        return self.m_codes + FLOAT_BYTES * KSUB * d / m

    def table_flops(self, d: int) -> float:
        return 2.0 * KSUB * d

    def per_code_flops(self, d: int) -> float:
        return float(self.m_codes)


class Sq8Family(ExhaustiveFamily):
    """faiss ``IndexScalarQuantizer`` QT_8bit (IP): one byte per coordinate, decoded and multiplied (4·d per code)."""

    name = "sq8"

    @property
    def code_bytes(self) -> float:
        return float(self.keys.shape[1]) if self.keys is not None else float("nan")

    def _make(self, data: np.ndarray) -> Any:
        import faiss

        return faiss.IndexScalarQuantizer(data.shape[1], faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)

    def memory_bytes(self, m: int, d: int) -> float:
        """d (code) + 8·d/m (per-coordinate min and range, float32)."""
        return d + 2.0 * FLOAT_BYTES * d / m

    def per_code_flops(self, d: int) -> float:
        return 4.0 * d


class ReducedHnswFamily(HnswFamily):
    """``hnsw_mips_l2``: HNSW L2 over the :func:`mips_to_l2` keys, searched with [x, 0] (the MIPS anchor)."""

    reduction = True

    def __init__(self, m_links: int = 32, ef_construction: int = 100, **kw) -> None:
        super().__init__("l2", m_links, ef_construction, **kw)
        self.name = "hnsw_mips_l2"


class ReducedIvfFlatFamily(IndexFamily):
    """``ivf_flat_mips_l2``: IVF-Flat L2 (flat-L2 coarse quantiser, ⌊√m⌋ lists) over the :func:`mips_to_l2` keys,
    searched with [x, 0]; every scanned key is an exact L2 distance, so all lists give the exact MIPS top-k."""

    name = "ivf_flat_mips_l2"
    param_name = "nprobe"
    stores_float_keys = True
    reduction = True

    def __init__(self, nlist: int | None = None, **kw) -> None:
        super().__init__(**kw)
        self.nlist = nlist

    def _make(self, data: np.ndarray) -> Any:
        import faiss

        self.nlist = self.nlist or default_nlist(data.shape[0])
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(data.shape[1]), data.shape[1], self.nlist, faiss.METRIC_L2)
        index.cp.seed = self.seed
        return index

    def memory_bytes(self, m: int, d: int) -> float:
        """4·(d + 1) (augmented key) + 8 (id) + 4·(d + 1)·nlist/m (centroids)."""
        nlist = self.nlist or default_nlist(m)
        return FLOAT_BYTES * (d + 1) + ID_BYTES + FLOAT_BYTES * (d + 1) * nlist / m

    def search(self, vectors, rerank_queries=None, param=1, k=10, rerank=0, probe_vectors=None) -> SearchResult:
        index, nprobe = self.index, min(int(param), self.index.nlist)
        index.nprobe = nprobe
        vectors = augment_queries(vectors)
        sizes = np.array([index.invlists.list_size(i) for i in range(index.nlist)], np.int64)

        def run():
            _, idx = index.search(vectors, k)
            return idx

        idx, seconds = best_of(self.repeats, run)
        _, assign = index.quantizer.search(vectors, nprobe)
        scanned = float(sizes[np.maximum(assign, 0)].sum(axis=1).mean())
        return SearchResult(idx, distances=index.nlist + scanned, seconds=seconds / vectors.shape[0],
                            flops=2.0 * self.dim * (index.nlist + scanned), codes=0.0)


# name → (constructor from the experiment's settings, the methods it runs: baseline and learned)
FAMILY_NAMES = ("hnsw_ip", "hnsw_l2", "ivf_pq", "pq", "sq8", "hnsw_mips_l2", "ivf_flat_mips_l2")
BASELINE_METHODS = {"hnsw_ip": ("x",), "hnsw_l2": (), "ivf_pq": ("x",), "pq": ("x",), "sq8": ("x",),
                    "hnsw_mips_l2": ("x l2-reduction",), "ivf_flat_mips_l2": ("x l2-reduction",)}
LEARNED_METHODS = {"hnsw_ip": ("ĝ ip",), "hnsw_l2": ("ĝ l2",), "ivf_pq": ("ĝ ip", "ĝ probe"), "pq": ("ĝ ip",),
                   "sq8": ("ĝ ip",), "hnsw_mips_l2": (), "ivf_flat_mips_l2": ()}
DEFAULTS = {"families": list(FAMILY_NAMES), "hnsw_m": 32, "ef_construction": 100, "ef": [8, 16, 32, 64, 128, 256],
            "pq_m": [16], "nprobes": [1, 2, 4, 8, 16, 32], "rerank": [0, 10, 100], "k_values": [1, 10], "repeats": 3,
            "seed": 0}


def settings(cfg: dict[str, Any] | None) -> dict[str, Any]:
    """The experiment's settings (``experiments.index_families``) over :data:`DEFAULTS`; unknown families refused."""
    out = {**DEFAULTS, **{k: v for k, v in (cfg or {}).items() if k in DEFAULTS}}
    unknown = sorted(set(out["families"]) - set(FAMILY_NAMES))
    if unknown:
        raise InputError(f"experiments.index_families.families: unknown {unknown}; choose from {list(FAMILY_NAMES)}")
    return out


def make_families(cfg: dict[str, Any], dim: int | None = None, learned: bool = False) -> list[IndexFamily]:
    """The index instances of the configured families (one per code size for ``ivf_pq`` / ``pq``); with ``learned``
    only those the learned rows search. Code sizes that do not divide ``dim`` are left out with a warning."""
    cfg = settings(cfg)
    common = {"repeats": cfg["repeats"], "seed": cfg["seed"]}
    hnsw = {"m_links": cfg["hnsw_m"], "ef_construction": cfg["ef_construction"]}
    out: list[IndexFamily] = []
    for name in cfg["families"]:
        if learned and not LEARNED_METHODS[name]:
            continue
        if name in ("ivf_pq", "pq"):
            for code in cfg["pq_m"]:
                if dim is not None and dim % int(code):
                    log.warning("%s: %d code bytes do not divide d = %d: left out", name, code, dim)
                    continue
                out.append(IvfPqFamily(code, **common) if name == "ivf_pq" else PqFamily(code, **common))
        elif name in ("hnsw_ip", "hnsw_l2"):
            out.append(HnswFamily(name.split("_")[1], **hnsw, **common))
        elif name == "sq8":
            out.append(Sq8Family(**common))
        elif name == "hnsw_mips_l2":
            out.append(ReducedHnswFamily(**hnsw, **common))
        else:
            out.append(ReducedIvfFlatFamily(**common))
    return out


def family_params(family: IndexFamily, cfg: dict[str, Any]) -> list[tuple[int, list[int]]]:
    """Operating points of a family: (param, the re-rank depths R searched at it). HNSW: each ef (a ĝ query
    re-ranks all its candidates); IVF-Flat: each nprobe and all lists; IVF-PQ: each nprobe × every R; exhaustive
    codes: one scan × every R (their swept parameter is R)."""
    cfg = settings(cfg)
    reranks = sorted({int(r) for r in cfg["rerank"]})
    if isinstance(family, HnswFamily):
        return [(int(ef), [0]) for ef in cfg["ef"]]
    if isinstance(family, ReducedIvfFlatFamily):
        nlist = family.index.nlist
        return [(p, [0]) for p in sorted({min(int(p), nlist) for p in cfg["nprobes"]} | {nlist})]
    if isinstance(family, IvfPqFamily):
        return [(p, reranks) for p in sorted({min(int(p), family.index.nlist) for p in cfg["nprobes"]})]
    return [(0, reranks)]


def row_memory(family: IndexFamily, m: int, d: int, rerank: bool, network_parameters: int = 0) -> dict[str, float]:
    """Bytes per key of a row: the index, + 4·d float keys when a compressed index's candidates are re-ranked from
    them, + the network's parameters × 4 / m for a learned row (module docstring)."""
    index = family.memory_bytes(m, d)
    keys = FLOAT_BYTES * d if rerank and not family.stores_float_keys else 0.0
    network = FLOAT_BYTES * network_parameters / m
    return {"memory_bytes": index + keys + network, "index_bytes": index, "rerank_key_bytes": keys,
            "network_bytes": network}


def recall_columns(indices: np.ndarray, targets: np.ndarray, k_values: list[int],
                   valid: np.ndarray | None = None) -> dict[str, float]:
    """recall@k: the label's exact top-1 key among the first k returned (a non-finite query is a miss)."""
    hit_ok = np.ones(len(targets), bool) if valid is None else valid
    return {f"recall@{k}": float(np.mean((indices[:, :k] == targets[:, None]).any(axis=1) & hit_ok))
            for k in k_values}


def sweep(family: IndexFamily, method: str, queries: np.ndarray, targets: np.ndarray, cfg: dict[str, Any],
          predicted: np.ndarray | None = None, network: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Rows of one family × method over its operating points.

    Args:
        method: ``x`` / ``x l2-reduction`` (natural query), ``ĝ ip`` / ``ĝ l2`` (search with ĝ, re-rank with x),
            ``ĝ probe`` (IVF: probe with ĝ, scan and re-rank with x).
        queries: x [n, d]; predicted: ĝ(x) [n, d] (learned methods); targets: the labels' exact top-1 [n].
        network: ``flops``, ``seconds`` (per query) and ``parameters`` of the network (learned methods).
    """
    cfg = settings(cfg)
    network = {"flops": 0.0, "seconds": 0.0, "parameters": 0, **(network or {})}
    k_values = [int(k) for k in cfg["k_values"]]
    kmax = max(k_values)
    valid = np.isfinite(predicted).all(axis=1) if predicted is not None else np.ones(len(queries), bool)
    g = None if predicted is None else np.where(valid[:, None], predicted, 0.0).astype(np.float32)
    rows = []
    for param, reranks in family_params(family, cfg):
        vectors, probe = (g, None) if method in ("ĝ ip", "ĝ l2") else (queries, g if method == "ĝ probe" else None)
        if isinstance(family, HnswFamily):
            depth = max(param, kmax) if method.startswith("ĝ") else 0
            points = [(depth, family.search(vectors, queries if depth else None, param, kmax))]
        else:
            points = list(zip(reranks, family.search_reranks(vectors, queries, param, kmax, reranks, probe)))
        for depth, res in points:
            rows.append(_row(family, method, param, depth, res, targets, k_values, valid, network, len(queries)))
    return rows


def _row(family: IndexFamily, method: str, param: int, depth: int, res: SearchResult, targets: np.ndarray,
         k_values: list[int], valid: np.ndarray, network: dict[str, float], num_queries: int) -> dict[str, Any]:
    """One CSV row: the operating point, recall, every cost (index + network) and the memory per key."""
    m, d = family.keys.shape
    param = depth if family.param_name == "rerank" else param
    row = {"family": family.name, "index": family.label, "method": method, "code_bytes": family.code_bytes,
           "param_name": family.param_name, "param": param, "rerank": depth,
           **recall_columns(res.indices, targets, k_values, valid),
           "flops": res.flops + network["flops"], "index_flops": res.flops, "network_flops": network["flops"],
           "distances": res.distances, "codes_scanned": res.codes, "hops": res.hops,
           "seconds": res.seconds + network["seconds"], "index_seconds": res.seconds,
           "network_seconds": network["seconds"],
           **row_memory(family, m, d, res.reranked > 0, int(network["parameters"])),
           "build_seconds": family.build_seconds, "num_keys": m, "dim": d, "num_queries": num_queries,
           "non_finite_queries": int((~valid).sum()), "timing": TIMING.format(repeats=family.repeats)}
    log.info("%s %s %s %d (R %d): recall@1 %.4f, %.3g FLOPs, %.3g ms per query", family.label, method,
             family.param_name, param, depth, row.get("recall@1", float("nan")), row["flops"], 1e3 * row["seconds"])
    return row
