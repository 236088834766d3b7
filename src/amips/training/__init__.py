"""training — how models are fitted: the training loop, losses and the registries of extra loss terms (retrieval,
routing: the term of a router's loss; the routers themselves are in :mod:`amips.routing`), weight selection and
validation, presets of the official protocol, one training run on arrays, and the convex-SupportNet diagnostics
(traces on arrays; their file-level stage is :mod:`amips.pipeline.stages.convex`). Which runs a sweep trains is
planned in :mod:`amips.pipeline.sweeps`.

May import: ``evaluation``, ``index``, ``exact``, ``models``, ``reporting``, ``data``, ``core``.
"""
