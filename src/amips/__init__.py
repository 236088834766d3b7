"""amips — amortized maximum inner product search with learned support functions (SupportNet, KeyNet).

The user's API sits at the top: :mod:`amips.fit` (train a model on your embeddings), :mod:`amips.search` (search
with a trained model, exhaustively or through IVF), :func:`amips.load_model` and the command line :mod:`amips.cli`.
Below it the wings, each importing only itself and the wings under it (tests/test_layering.py):
``pipeline`` → ``experiments`` → ``training`` → ``evaluation`` → ``exact`` → ``models`` → ``reporting`` → ``data``
→ ``core``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_model"]


def __getattr__(name: str) -> Any:
    """``amips.load_model`` without importing torch on ``import amips`` (the command line starts fast)."""
    if name == "load_model":
        from amips.models import load_model

        return load_model
    raise AttributeError(f"module 'amips' has no attribute {name!r}")
