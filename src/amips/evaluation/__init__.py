"""evaluation — what a model is worth: metrics in the exact order (ranks, match rate, MRR, recall, rn2, routing),
batched inference, the controls a learned model must beat, key coverage; on arrays (the file-level stages are in
:mod:`amips.pipeline.stages`, the routing curves of the k-means router task in :mod:`amips.routing.clusters`).

May import: ``index``, ``exact``, ``models``, ``reporting``, ``data``, ``core``.
"""
