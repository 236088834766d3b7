"""Row-wise checks of arrays shared by every layer."""

from __future__ import annotations

import numpy as np


def finite_rows(*arrays: np.ndarray) -> np.ndarray:
    """[n] bool: True where every entry of row i of every array ([n, ...]) is finite."""
    ok = np.ones(arrays[0].shape[0], bool)
    for a in arrays:
        ok &= np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)
    return ok
