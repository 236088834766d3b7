"""Experiments beyond the paper on IVF search: hybrid probing, routers over the IVF lists, amortization break-even.

Each module is a function over arrays; :mod:`amips.experiments.stages` holds their thin file-level stages.
"""
