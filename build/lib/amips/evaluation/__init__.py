"""evaluation — what a model is worth: metrics in the exact order (ranks, match rate, MRR, recall, rn2, routing),
batched inference, the controls a learned model must beat, key coverage, cluster routing curves.

May import: ``index``, ``exact``, ``models``, ``reporting``, ``data``, ``core``.
"""
