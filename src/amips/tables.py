"""Aggregate per-run metrics into tables: one row per run, and mean ± std over seeds per configuration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from amips.io import InputError, atomic_path, atomic_write_text

GROUP_COLUMNS = ("dataset", "model", "kind", "homogenization", "parameters_fraction")
SUMMARY_METRICS = ("match_rate", "mrr", "recall@1", "recall@5", "recall@10", "recall@50", "recall@1%",
                   "key_error_rn2", "score_error", "num_parameters", "train_seconds", "steps_per_second")


def load_runs(metric_files: Iterable[str | Path]) -> pd.DataFrame:
    """One row per ``metrics.json``."""
    rows = []
    for path in metric_files:
        try:
            rows.append(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read metrics file {path}: {exc}") from exc
    if not rows:
        raise InputError("no metrics files to aggregate")
    return pd.DataFrame(rows)


def summarize(runs: pd.DataFrame, group: Sequence[str] = GROUP_COLUMNS,
              metrics: Sequence[str] = SUMMARY_METRICS) -> pd.DataFrame:
    """Mean and std (ddof=1; 0 for a single seed) of ``metrics`` per group, plus the seed count ``n_seeds``."""
    group = [g for g in group if g in runs.columns]
    metrics = [m for m in metrics if m in runs.columns]
    grouped = runs.groupby(group, sort=True, dropna=False)
    mean = grouped[metrics].mean().add_suffix("_mean")
    std = grouped[metrics].std(ddof=1).fillna(0.0).add_suffix("_std")
    count = grouped.size().rename("n_seeds")
    out = pd.concat([mean, std, count], axis=1).reset_index()
    ordered = list(group) + [c for m in metrics for c in (f"{m}_mean", f"{m}_std")] + ["n_seeds"]
    return out[ordered]


def to_markdown(summary: pd.DataFrame, metrics: Sequence[str], group: Sequence[str] = GROUP_COLUMNS,
                digits: int = 3) -> str:
    """A Markdown table with 'mean ± std' cells."""
    group = [g for g in group if g in summary.columns]
    metrics = [m for m in metrics if f"{m}_mean" in summary.columns]
    header = list(group) + list(metrics) + ["seeds"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in summary.iterrows():
        cells = [str(row[g]) for g in group]
        cells += [_fmt(row[f"{m}_mean"], row[f"{m}_std"], digits) for m in metrics]
        cells.append(str(int(row["n_seeds"])))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _fmt(mean: float, std: float, digits: int) -> str:
    if abs(mean) >= 1000:
        return f"{mean:.0f} ± {std:.0f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def aggregate(metric_files: Iterable[str | Path], runs_csv: str | Path, summary_csv: str | Path,
              summary_md: str | Path, markdown_metrics: Sequence[str] = ("match_rate", "mrr", "recall@10",
                                                                         "key_error_rn2", "num_parameters")) -> pd.DataFrame:
    """Write the per-run table and the mean ± std summary (CSV + Markdown); return the summary."""
    runs = load_runs(metric_files)
    sort_cols = [c for c in (*GROUP_COLUMNS, "seed") if c in runs.columns]
    runs = runs.sort_values(sort_cols).reset_index(drop=True)
    write_csv(runs, runs_csv)
    summary = summarize(runs)
    write_csv(summary, summary_csv)
    atomic_write_text(summary_md, to_markdown(summary, markdown_metrics))
    return summary
