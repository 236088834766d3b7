"""The file-level stages that the Snakemake rules and the command line call, one module per rule file of
``workflow/rules/`` (``data.smk`` → :mod:`~amips.pipeline.stages.data`, ``labels.smk`` → :mod:`~.labels`, …):
``data``, ``labels``, ``train``, ``evaluate``, ``ivf``, ``router``, ``controls``, ``convex``, ``homogenization``,
``ivf_experiments``, ``index_families``, ``scaling``, ``what_wins``. Each reads its inputs, calls the wing that holds
the algorithm (on arrays) and writes its outputs; the tables and figures over the results are in
:mod:`amips.reporting`.

Directory contents:
* dataset dir: ``keys.npy`` [m, d], ``queries.npy`` [n, d], ``meta.json``, ``manifest.json``
* labels dir:  ``{train,val,test}_queries.npy`` [N, d], ``{train,val,test}_targets.npy`` [N, C] int64 (per-cluster
  top-1), ``{train,val,test}_source.npy`` [N] (source query of each row), ``centroids.npy`` [C, d],
  ``assignments.npy`` [m], ``meta.json``, ``manifest.json``
* run dir:     ``model.pt`` (EMA weights + spec), ``history.json``, ``metrics.json``; ``checkpoint.pt`` while training

Dataset and labels folders are written as one unit (:mod:`amips.data.manifest`: the manifest is removed before the first
file is written and written after the last) and read only through :mod:`amips.data.folders`, which verifies it. Every
writer holds an exclusive lock on its output (:func:`amips.data.locks.exclusive_lock`), so a second writer is refused.
"""
