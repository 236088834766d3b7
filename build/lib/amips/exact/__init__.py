"""exact — the ground truth: the one exact MIPS order (float32 candidates within a proven error bound, float64
re-scoring, the exact top-k among candidates), exact top-k labels on every engine, the per-machine engine choice,
k-means, FLOP counts. The approximate indexes are in :mod:`amips.index`.

May import: ``models``, ``reporting``, ``data``, ``core``.
"""
