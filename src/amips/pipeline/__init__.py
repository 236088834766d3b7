"""pipeline — what the Snakemake rules and the command line run: the file-level stages
(:mod:`amips.pipeline.stages`, one module per rule file: dataset → labels → train → evaluate → IVF, the controls, the
experiments), the sweep plan (which runs of a sweep are trained and which are skipped, :mod:`~amips.pipeline.sweeps`),
the target lists, the config (loading, schema limits, checks, memory estimates, typed sections), run names and the
provenance of a run.

May import: ``experiments``, ``routing``, ``training``, ``evaluation``, ``index``, ``exact``, ``models``,
``reporting``, ``data``, ``core``.
"""
