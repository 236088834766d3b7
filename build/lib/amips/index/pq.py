"""Compressed indexes: faiss ``IndexIVFPQ``, ``IndexPQ`` and ``IndexScalarQuantizer`` (QT_8bit), inner product.

A code scan returns the top max(k, R) by code score; the top R (``rerank``) are then re-ranked exactly with
``queries`` from the float keys (R = 0: none). :meth:`CompressedIndex.search_reranks` scans once at the largest depth
and re-ranks each R from it: each result's seconds are that scan's (best of ``repeats``) plus its own re-rank's (best
of ``repeats``); a scan at depth max(R) rather than k costs the R = 0 result a larger heap (faiss returns the
candidates sorted by code score). Keys with *equal* code scores (identical codes, common with few code bytes) come out
of faiss' heap in an order that depends on its depth, so at such a tie the first R of a deeper scan may differ from a
depth-R scan; both are valid outputs of the index (measured: 0.4 % of queries at R ≤ 10 with PQ M = 16, 50k × 384
clustered keys; none without ties).

**Costs** per query (one multiply-add = 2 FLOPs), + 2·d·R for the re-rank:

* IVF-PQ: 2·d·nlist (coarse) [+ 2·d·nprobe: the vectors' scores of ``route``'s lists] + 2·256·d (the ADC table:
  256 centroids × d for the M sub-quantisers together) + M·(codes scanned).
* PQ: 2·256·d + M·m.  SQ8: 4·d·m (decode one multiply-add and product one multiply-add per coordinate).

**Memory** (bytes per key): IVF-PQ M (code) + 8 (int64 id) + 4·d·(nlist + 256)/m (coarse centroids and the PQ
codebooks); PQ M + 4·256·d/m (an exhaustive IndexPQ stores no ids: a key's position is its id); SQ8 d + 8·d/m
(per-coordinate min and range, float32).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from amips.data.io import InputError
from amips.exact.order import rerank_candidates
from amips.index.base import FLOAT_BYTES, ID_BYTES, Cost, Found, Index, default_nlist, f32, found_count, rerank_float32
from amips.index.ivf import ivf_lists
from amips.index.timing import best_of

KSUB = 256  # centroids per PQ sub-quantiser (8-bit codes)


class CompressedIndex(Index):
    """A compressed index: ``_scan`` returns the top max(k, R) by code score, then the top R are re-ranked exactly."""

    def search(self, vectors, k=10, probe=None, rerank=0, queries=None, route=None) -> Found:
        return self.search_reranks(vectors, k, probe, [rerank], queries, route)[0]

    def _scan(self, vectors: np.ndarray, depth: int, probe: int | None, route: np.ndarray | None):
        """(candidates [n, depth] by code score, what ``_scan_cost`` needs)."""
        raise NotImplementedError

    def _scan_cost(self, scanned: Any, probe: int | None, route: np.ndarray | None) -> Cost:
        """FLOPs, full-precision distances and codes per query of the scan."""
        raise NotImplementedError

    def search_reranks(self, vectors, k, probe, reranks, queries=None, route=None) -> list[Found]:
        if any(int(r) < 0 for r in reranks):
            raise InputError(f"{self.name}: rerank is a number of candidates, at least 0, got {list(reranks)}")
        vectors = f32(vectors)
        route = None if route is None else f32(route)
        queries = None if queries is None else f32(queries)
        reranks = [int(r) if queries is not None else 0 for r in reranks]
        depth = max([k] + reranks)
        (idx, scanned), scan_seconds = best_of(self.repeats, lambda: self._scan(vectors, depth, probe, route))
        scan = self._scan_cost(scanned, probe, route)
        n, d = vectors.shape[0], self.keys.shape[1]
        out = []
        for rerank in reranks:
            if rerank > 0:
                candidates = np.ascontiguousarray(idx[:, :rerank])
                _, seconds = best_of(self.repeats, lambda: rerank_float32(queries, self.keys, candidates, k))
                reranked = found_count(candidates)
                found = rerank_candidates(queries, self.keys, candidates, k)
            else:
                seconds, reranked, found = 0.0, 0.0, idx[:, :k]
            cost = Cost(scan.flops + 2.0 * d * reranked, scan.distances + reranked, scan.codes, reranked=reranked)
            out.append(Found(found, (scan_seconds + seconds) / n, cost))
        return out


class ProductCodes(CompressedIndex):
    """A product-quantised index: ``m_codes`` bytes of 8 bits per key (the code size and the label say so)."""

    def __init__(self, code_bytes: int = 16, **kw) -> None:
        super().__init__(**kw)
        self.m_codes = int(code_bytes)

    @property
    def code_bytes(self) -> float:
        return float(self.m_codes)

    @property
    def label(self) -> str:
        return f"{self.name}_M{self.m_codes}"

    def _check_divides(self, d: int) -> None:
        if d % self.m_codes:
            raise InputError(f"{self.name}: {self.m_codes} code bytes do not divide the dimension d = {d}")


class IvfPqIndex(ProductCodes):
    """faiss ``IndexIVFPQ`` (IP, flat-IP coarse quantiser, residual codes of M bytes, 8 bits each), nlist = ⌊√m⌋.

    ``search(vectors, k, probe=nprobe, rerank=R, queries=x, route=p)``: the nprobe lists are those of ``p`` (default
    ``vectors``) and are scanned with ``vectors``; when ``p`` is another vector, ``vectors``' own centroid scores of
    those lists are computed (2·d·nprobe, counted) since the residual codes' scores add them."""

    name = "ivf_pq"
    param_name = "nprobe"
    faiss_class = "IndexIVFPQ"

    def __init__(self, code_bytes: int = 16, nlist: int | None = None, **kw) -> None:
        super().__init__(code_bytes, **kw)
        self.nlist = nlist
        self.list_sizes = np.empty(0, np.int64)
        self._centroids: np.ndarray | None = None

    def _make(self, data: np.ndarray) -> Any:
        import faiss

        m, d = data.shape
        self._check_divides(d)
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFPQ(quantizer, d, self.nlist or default_nlist(m), self.m_codes, 8,
                                 faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = self.seed
        index.pq.cp.seed = self.seed
        return index

    def _adopt(self, where: str) -> None:
        self.nlist, self._centroids = int(self.index.nlist), None
        self.list_sizes = ivf_lists(self.index, where)[0]

    def bytes_per_key(self, m: int, d: int) -> float:
        """M (code) + 8 (id) + 4·d·(nlist + 256)/m (centroids and the M codebooks of 256 × d/M floats)."""
        return self.m_codes + ID_BYTES + FLOAT_BYTES * d * ((self.nlist or default_nlist(m)) + KSUB) / m

    def _scan(self, vectors, depth, probe, route):
        index, nprobe = self.index, min(int(probe), self.index.nlist)
        index.nprobe = nprobe
        cdis, assign = index.quantizer.search(vectors if route is None else route, nprobe)
        if route is not None:
            if self._centroids is None:
                self._centroids = index.quantizer.reconstruct_n(0, index.nlist)
            cent = self._centroids[np.maximum(assign, 0)]
            cdis = np.einsum("npd,nd->np", cent, vectors).astype(np.float32)
        _, idx = index.search_preassigned(vectors, depth, assign, cdis)
        return idx, assign

    def _scan_cost(self, scanned, probe, route) -> Cost:
        nlist, d = self.index.nlist, self.keys.shape[1]
        codes = float(self.list_sizes[np.maximum(scanned, 0)].sum(axis=1).mean())
        coarse = nlist + (min(int(probe), nlist) if route is not None else 0)
        return Cost(2.0 * d * coarse + 2.0 * KSUB * d + self.m_codes * codes, float(coarse), codes)


class Exhaustive(CompressedIndex):
    """An exhaustive compressed index (every code scanned); the operating point is the re-rank depth R itself."""

    param_name = "rerank"

    def per_code_flops(self, d: int) -> float:
        raise NotImplementedError

    def table_flops(self, d: int) -> float:
        return 0.0

    def _scan(self, vectors, depth, probe, route):
        _, idx = self.index.search(vectors, depth)
        return idx, None

    def _scan_cost(self, scanned, probe, route) -> Cost:
        m, d = self.keys.shape
        return Cost(self.table_flops(d) + self.per_code_flops(d) * m, 0.0, float(m))


class PqIndex(ProductCodes, Exhaustive):
    """faiss ``IndexPQ`` (IP, M bytes of 8 bits): an ADC table of 2·256·d FLOPs, then M adds per code."""

    name = "pq"
    faiss_class = "IndexPQ"

    def _make(self, data: np.ndarray) -> Any:
        import faiss

        self._check_divides(data.shape[1])
        index = faiss.IndexPQ(data.shape[1], self.m_codes, 8, faiss.METRIC_INNER_PRODUCT)
        index.pq.cp.seed = self.seed
        return index

    def bytes_per_key(self, m: int, d: int) -> float:
        """M (code) + 4·256·d/m (codebooks); no ids (a key's position is its id)."""
        return self.m_codes + FLOAT_BYTES * KSUB * d / m

    def table_flops(self, d: int) -> float:
        return 2.0 * KSUB * d

    def per_code_flops(self, d: int) -> float:
        return float(self.m_codes)


class Sq8Index(Exhaustive):
    """faiss ``IndexScalarQuantizer`` QT_8bit (IP): one byte per coordinate, decoded and multiplied (4·d per code)."""

    name = "sq8"
    faiss_class = "IndexScalarQuantizer"

    @property
    def code_bytes(self) -> float:
        return float(self.keys.shape[1]) if self.keys is not None else float("nan")

    def _make(self, data: np.ndarray) -> Any:
        import faiss

        return faiss.IndexScalarQuantizer(data.shape[1], faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)

    def bytes_per_key(self, m: int, d: int) -> float:
        """d (code) + 8·d/m (per-coordinate min and range, float32)."""
        return d + 2.0 * FLOAT_BYTES * d / m

    def per_code_flops(self, d: int) -> float:
        return 4.0 * d
