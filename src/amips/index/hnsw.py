"""HNSW: faiss ``IndexHNSWFlat`` (M links per node, efConstruction) with the inner product or L2, built by the one
builder :func:`build_hnsw`.

``search(vectors, k, probe=ef)`` walks the graph at efSearch = max(ef, k); with ``rerank`` the walk's max(ef, k)
candidates (the first ``rerank`` of them; :data:`~amips.index.base.EVERY`: all) are re-ranked with ``queries``.

**Cost** per query: 2·d·(ndis + 1) FLOPs (faiss ``hnsw_stats.ndis``, + the entry point's distance it leaves out)
+ 2·d·C (the C candidates re-ranked); ``hops`` = ``hnsw_stats.nhops``.
**Memory**: 4·d (float keys) + 4·(2M + M/(M − 1)) (int32 links: 2M at level 0, M per upper level; a key has 1/(M − 1)
upper levels on average under faiss' level draw with mL = 1/ln M) + 4 (its level) + 8 (its offset) bytes per key.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from amips.exact.order import rerank_candidates
from amips.index.base import EVERY, FLOAT_BYTES, Cost, Found, Index, f32, faiss_metric, found_count, rerank_float32
from amips.index.timing import best_of

log = logging.getLogger("amips.index.hnsw")

HNSW_M = 32  # links per node of a new HNSW index
HNSW_EF_CONSTRUCTION = 100  # of a new HNSW index, for the command line and the pipeline alike (faiss' own: 40)
HNSW_EF_SEARCH = 64


def build_hnsw(dim: int, m_links: int = HNSW_M, ef_construction: int = HNSW_EF_CONSTRUCTION, metric: str = "ip",
               seed: int | None = None) -> Any:
    """An empty faiss ``IndexHNSWFlat`` of dimension ``dim``; ``seed`` seeds the level draw (None: faiss' own)."""
    import faiss

    index = faiss.IndexHNSWFlat(dim, m_links, faiss_metric(metric))
    index.hnsw.efConstruction = ef_construction
    if seed is not None:
        index.hnsw.rng = faiss.RandomGenerator(int(seed))
    return index


class HnswIndex(Index):
    """faiss ``IndexHNSWFlat``: ``m_links`` links (None: :data:`HNSW_M`), ``ef_construction`` (None:
    :data:`HNSW_EF_CONSTRUCTION`), metric ``ip`` (``hnsw_ip``) or ``l2`` (``hnsw_l2``); ``seed`` the level draw's
    (None: faiss' own)."""

    param_name = "ef"
    stores_float_keys = True
    faiss_class = "IndexHNSWFlat"
    options = (("m_links", "--hnsw-m", "M {}"), ("ef_construction", "--ef-construction", "efConstruction {}"))

    def __init__(self, metric: str = "ip", m_links: int | None = None, ef_construction: int | None = None,
                 seed: int | None = None, **kw) -> None:
        super().__init__(metric=metric, seed=seed, **kw)
        self.m_links, self.ef_construction = m_links, ef_construction
        self.name = f"hnsw_{metric}"

    def describe(self) -> str:
        """``HNSW index (M 32, efConstruction 40) over 2000 keys``."""
        return f"HNSW index (M {self.m_links}, efConstruction {self.ef_construction}) over {self.num_keys} keys"

    def _make(self, data: np.ndarray) -> Any:
        m_links, ef_construction = self.m_links or HNSW_M, self.ef_construction or HNSW_EF_CONSTRUCTION
        log.info("building an HNSW index: M %d, efConstruction %d over %d keys (d = %d)", m_links, ef_construction,
                 *data.shape)
        return build_hnsw(data.shape[1], m_links, ef_construction, self.metric, self.seed)

    def _adopt(self, where: str) -> None:
        self.m_links = int(self.index.hnsw.nb_neighbors(1))
        self.ef_construction = int(self.index.hnsw.efConstruction)

    def bytes_per_key(self, m: int, d: int) -> float:
        """4·d (float keys) + 4·(2M + M/(M − 1)) (links, expectation over faiss' level draw) + 4 (level) + 8
        (offset)."""
        m_links = self.m_links or HNSW_M
        links = 2 * m_links + m_links / (m_links - 1)
        return FLOAT_BYTES * d + 4.0 * links + 4 + 8

    def link_bytes(self) -> float:
        """Bytes per key of the built graph's link slots (the measured counterpart of the expectation above)."""
        return 4.0 * self.index.hnsw.neighbors.size() / max(1, self.index.ntotal)

    def walk(self, vectors: np.ndarray, depth: int, ef: int) -> tuple[np.ndarray, int, int]:
        """(the top ``depth`` [n, depth] of one walk of ``vectors`` at efSearch ``ef``, faiss' distances and hops
        of all n queries together)."""
        import faiss

        stats = faiss.cvar.hnsw_stats
        self.index.hnsw.efSearch = ef
        stats.reset()
        idx = self.index.search(vectors, depth)[1]
        return idx, int(stats.ndis), int(stats.nhops)

    def search(self, vectors, k=10, probe=HNSW_EF_SEARCH, rerank=0, queries=None, route=None) -> Found:
        """efSearch = max(``probe``, k); ``rerank`` > 0 or :data:`EVERY`: that many of the max(ef, k) candidates
        re-ranked with ``queries``."""
        self._check_rerank(rerank, queries)
        ef = max(int(probe), k)
        vectors = f32(vectors)
        queries = None if not rerank else f32(queries)
        depth = ef if rerank else k
        take = depth if rerank == EVERY else min(int(rerank), depth)

        def run():
            out = self.walk(vectors, depth, ef)
            if queries is not None:
                rerank_float32(queries, self.keys, out[0][:, :take], k)
            return out

        (idx, ndis, nhops), seconds = best_of(self.repeats, run)
        n = vectors.shape[0]
        ndis, nhops = ndis / n + 1, nhops / n  # + the entry point's distance, which faiss leaves out
        reranked = found_count(idx[:, :take]) if queries is not None else 0.0
        if queries is not None:
            idx = rerank_candidates(queries, self.keys, idx[:, :take], k)
        d = self.keys.shape[1]
        cost = Cost(2.0 * self.dim * ndis + 2.0 * d * reranked, ndis + reranked, hops=nhops, reranked=reranked)
        return Found(idx[:, :k].astype(np.int64, copy=False), seconds / n, cost)
