"""Typed, frozen sections of a pipeline config, read with the schema's defaults filled in.

The schema (``workflow/schemas/config.schema.yaml``) is the one place a default is written: a section is built by
:func:`amips.core.schema.section` (which fills what the config leaves out, as Snakemake's
``validate`` does), never from ``config.get(key, literal)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amips.core.schema import section
from amips.reporting.budgets import Budgets

__all__ = ["BudgetSettings"]


@dataclass(frozen=True)
class BudgetSettings:
    """The ``budgets`` section: FLOPs / wall-clock fractions of exact search, and bytes per key."""

    fractions: Budgets
    bytes_per_key: Budgets

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "BudgetSettings":
        """The section of ``config`` (absent: the schema's defaults)."""
        values = section("budgets", config["budgets"] if "budgets" in config else None)
        return cls(Budgets.fractions(values["fractions"]), Budgets.absolute(values["bytes_per_key"]))

    @classmethod
    def default(cls) -> "BudgetSettings":
        """The schema's defaults."""
        return cls.from_config({})
