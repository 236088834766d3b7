"""exact — the ground truth and the indexes: the one exact MIPS order (float32 candidates within a proven error bound,
float64 re-scoring), exact top-k labels on every engine, the per-machine engine choice, k-means, faiss IVF with
cost accounting, FLOP counts.

May import: ``models``, ``reporting``, ``data``, ``core``.
"""
