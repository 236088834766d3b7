"""amips — amortized maximum inner product search with learned support functions (SupportNet, KeyNet).

The user's API sits at the top: :class:`amips.Model` (the estimator on arrays: fit, predict_keys, search, save,
load), :mod:`amips.fit` (train a model on your embedding files), :mod:`amips.search` (search
with a trained model, exhaustively or through an index of :mod:`amips.index`), :func:`amips.load_model`,
:func:`amips.predict_keys` (the shapes ``amips predict`` writes) and the command line :mod:`amips.cli`.
Below it the wings, each importing only itself and the wings under it (tests/test_layering.py):
``pipeline`` → ``experiments`` → ``training`` → ``evaluation`` → ``index`` → ``exact`` → ``models`` → ``reporting``
→ ``data`` → ``core``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Model", "load_model", "predict_keys"]


def __getattr__(name: str) -> Any:
    """``amips.Model``, ``amips.load_model`` and ``amips.predict_keys`` without importing torch on ``import amips``
    (the command line starts fast)."""
    if name == "Model":
        from amips.estimator import Model

        return Model
    if name == "load_model":
        from amips.models import load_model

        return load_model
    if name == "predict_keys":
        from amips.search import predict_keys

        return predict_keys
    raise AttributeError(f"module 'amips' has no attribute {name!r}")
