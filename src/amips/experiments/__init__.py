"""experiments — the experiments beyond the paper, as functions over arrays and result frames: hybrid IVF probing
(:mod:`~amips.experiments.hybrid`), the index families searched with the natural query and the predicted key
(:mod:`~amips.experiments.index_families`), data scaling (:mod:`~amips.experiments.scaling`), amortization
break-even (:mod:`~amips.experiments.breakeven`) and what wins where (:mod:`~amips.experiments.what_wins`).

Their file-level stages are in :mod:`amips.pipeline.stages`, their figures in :mod:`amips.reporting`, the routers over
IVF lists in :mod:`amips.routing`.

May import: ``routing``, ``training``, ``evaluation``, ``index``, ``exact``, ``models``, ``reporting``, ``data``,
``core``.
"""
