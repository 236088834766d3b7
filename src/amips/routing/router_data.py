"""What a list router is fitted on (:class:`RouterData`) and what fitting returns (:class:`FittedRouter`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from amips.index.ivf import IvfFlatIndex


@dataclass
class FittedRouter:
    """A trained router: ``scores(x [n, d]) → [n, nlist]``, its per-query FLOPs and its training cost."""

    name: str
    scores: Callable[[np.ndarray], np.ndarray]
    flops: float
    train_flops: float = 0.0
    train_seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RouterData:
    """What every router is fitted on: keys [m, d], the IVF index, training queries [N, d], their exact top-1 key
    [N] and the best key of every list [N, nlist]."""

    keys: np.ndarray
    ivf: IvfFlatIndex
    queries: np.ndarray
    top1: np.ndarray
    list_top1: np.ndarray

    @property
    def oracle_list(self) -> np.ndarray:
        """[N] list holding each query's exact top-1 key."""
        return self.ivf.key_list[self.top1]
