"""reporting — tables (runs, mean ± std over seeds, IVF at equal budgets), figure helpers and learning-curve plots:
pandas and matplotlib over result files, no models.

May import: ``data``, ``core``.
"""
