"""reporting — tables (runs, mean ± std over seeds, IVF at equal budgets), budgets, and every figure: learning curves
(:mod:`~amips.reporting.curves`), the paper's figures (:mod:`~amips.reporting.plots`), the experiments' figures
(:mod:`~amips.reporting.experiment_plots`) and the homogenization ablation's
(:mod:`~amips.reporting.homogenization_plot`): pandas and matplotlib over result files and the frames they are given,
no models.

A low wing: a figure that needs something computed above (break-even lines, the wrappers' order) is passed it.

May import: ``data``, ``core``.
"""
