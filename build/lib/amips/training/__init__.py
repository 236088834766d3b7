"""training — how models are fitted: the training loop, losses and the registries of extra loss terms (retrieval,
routing), weight selection and validation, presets of the official protocol, sweep expansion, one training run on
arrays, and the convex-SupportNet diagnostics.

May import: ``evaluation``, ``index``, ``exact``, ``models``, ``reporting``, ``data``, ``core``.
"""
