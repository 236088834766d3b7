"""index — approximate and exact search indexes, faiss-style: one class per family with one interface
(:mod:`amips.index.base`: build, save, load checked against the keys, search at an operating point with an optional
exact re-rank, cost per query and bytes per key) — IVF-Flat (:mod:`~amips.index.ivf`), HNSW (:mod:`~amips.index.hnsw`),
IVF-PQ, PQ and SQ8 (:mod:`~amips.index.pq`), the MIPS-to-L2 reduction (:mod:`~amips.index.reduction`), the exact
index (:mod:`~amips.index.exact`); the index files (:mod:`~amips.index.store`), the timing protocol
(:mod:`~amips.index.timing`) and the sweeps over operating points (:mod:`~amips.index.sweeps`).

May import: ``exact``, ``models``, ``reporting``, ``data``, ``core``.
"""
