"""Typed, frozen sections of a pipeline config, read with the schema's defaults filled in.

The schema (``workflow/schemas/config.schema.yaml``) is the one place a default is written: a section is built by
:func:`amips.pipeline.config.section_with_defaults` (which fills what the config leaves out, as Snakemake's
``validate`` does), never from ``config.get(key, literal)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amips.pipeline.config import section_with_defaults
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
        section = section_with_defaults(config, "budgets")
        return cls(Budgets.fractions(section["fractions"]), Budgets.absolute(section["bytes_per_key"]))

    @classmethod
    def default(cls) -> "BudgetSettings":
        """The schema's defaults."""
        return cls.from_config({})
