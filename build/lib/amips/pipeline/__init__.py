"""pipeline — the stages on files that the Snakemake rules and the command line call (dataset → labels → train →
evaluate → IVF), the config (loading, schema limits, checks, memory estimates) and the provenance of a run.

May import: ``experiments``, ``training``, ``evaluation``, ``index``, ``exact``, ``models``, ``reporting``, ``data``,
``core``.
"""
