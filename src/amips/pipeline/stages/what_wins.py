"""The what-wins stage (rule what_wins, workflow/rules/what_wins.smk): the table of
:func:`amips.experiments.what_wins.what_wins` over the aggregated curves, as CSV and Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

from amips.experiments.what_wins import load_curves, what_wins, what_wins_markdown
from amips.reporting.budgets import Budgets


def write_what_wins(files: Iterable[str | Path], out_csv: str | Path, out_md: str | Path,
                    flops_budgets: Budgets, memory_budgets: Budgets = Budgets.absolute(())) -> pd.DataFrame:
    """Read the curves, write the table as CSV and Markdown (atomically); returns it."""
    from amips.data.io import atomic_write_text
    from amips.reporting.tables import write_csv

    table = what_wins(load_curves(files), flops_budgets, memory_budgets)
    write_csv(table, out_csv)
    atomic_write_text(out_md, what_wins_markdown(table))
    return table
