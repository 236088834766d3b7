"""Cost budgets of the equal-compute tables: the configured values, kept exactly, never recomputed.

A relative budget b (a fraction of exact search's cost on the same dataset: FLOPs or wall-clock seconds per query)
admits an operating point of cost c when c ≤ b · reference; an absolute budget (bytes per key) admits c ≤ b. Both
compare within a relative 1e-9, so a point whose cost is the budget up to float rounding fits. Every table carries
b itself in its budget column: ``b · reference / reference`` is not b in floating point (0.01 · 0.0123 / 0.0123 =
0.010000000000000002), and a table pivoted on such values loses rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = ["RELATIVE_TOLERANCE", "Budgets", "admits", "best_within_budget"]

RELATIVE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Budgets:
    """The budgets of one cost axis.

    Attributes:
        values: the budgets, strictly increasing, each finite and > 0 (fractions ≤ 1 when ``relative``).
        relative: fractions of a reference cost (exact search), else absolute costs (bytes per key).
    """

    values: tuple[float, ...]
    relative: bool = True

    def __post_init__(self) -> None:
        values = tuple(float(v) for v in self.values)
        object.__setattr__(self, "values", values)
        if any(not math.isfinite(v) or v <= 0 for v in values):
            raise ValueError(f"budgets must be finite and > 0, got {list(values)}")
        if self.relative and any(v > 1 for v in values):
            raise ValueError(f"relative budgets are fractions of exact search (≤ 1), got {list(values)}")
        if list(values) != sorted(set(values)):
            raise ValueError(f"budgets must be strictly increasing, got {list(values)}")

    @classmethod
    def fractions(cls, values: Iterable[float]) -> "Budgets":
        """Budgets as fractions of exact search's cost, sorted."""
        return cls(tuple(sorted(set(float(v) for v in values))), relative=True)

    @classmethod
    def absolute(cls, values: Iterable[float]) -> "Budgets":
        """Budgets in the cost's own unit (bytes per key), sorted."""
        return cls(tuple(sorted(set(float(v) for v in values))), relative=False)

    def limit(self, budget: float, reference: float | None = None) -> float:
        """The largest cost ``budget`` admits: budget · reference (relative) or the budget itself."""
        if not self.relative:
            return budget
        if reference is None or not math.isfinite(reference) or reference <= 0:
            raise ValueError(f"a relative budget needs a finite reference cost > 0, got {reference}")
        return budget * reference


def admits(costs: pd.Series | np.ndarray | float, limit: float) -> pd.Series | np.ndarray | bool:
    """Whether each cost fits ``limit`` (within :data:`RELATIVE_TOLERANCE` of it)."""
    return costs <= limit * (1 + RELATIVE_TOLERANCE)


def best_within_budget(curves: pd.DataFrame, cost: str, metric: str, budgets: Budgets,
                       reference: float | None = None, group: Sequence[str] = ("dataset", "method"),
                       carry: Sequence[str] = ()) -> pd.DataFrame:
    """For each group and budget, the best mean ``metric`` among operating points whose mean cost fits.

    ``curves`` holds ``<cost>_mean``, ``<metric>_mean`` and ``<metric>_std`` columns (one row per operating point);
    ``reference`` is exact search's cost for relative budgets. One output row per group × budget with the group
    columns, ``<cost>_budget`` (the configured value, exactly), the chosen point's mean and std (NaN where no point
    fits) and the chosen point's ``carry`` columns (None where none fits).
    """
    rows = []
    group = [g for g in group if g in curves.columns]
    for key, frame in curves.groupby(group, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        for budget in budgets.values:
            fits = frame[admits(frame[f"{cost}_mean"], budgets.limit(budget, reference))]
            fits = fits.dropna(subset=[f"{metric}_mean"])
            best = fits.loc[fits[f"{metric}_mean"].idxmax()] if len(fits) else None
            row = {**dict(zip(group, key)), f"{cost}_budget": budget,
                   f"{metric}_mean": best[f"{metric}_mean"] if best is not None else float("nan"),
                   f"{metric}_std": best[f"{metric}_std"] if best is not None else float("nan")}
            row.update({c: (best[c] if best is not None else None) for c in carry if c in frame})
            rows.append(row)
    return pd.DataFrame(rows)
