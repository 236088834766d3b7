"""Learning curves: validation and training match rate and key error (rn2) against the training step.

Each run's ``history.json`` holds its evaluation records (``val_match_rate``, ``train_match_rate``,
``val_key_error_rn2``, … every ``eval_every`` steps, see :mod:`amips.training.validation`). :func:`learning_curve_table`
gathers them into one long table (one row per run and evaluated step) and :func:`summarize_learning_curves`
averages over seeds; :func:`plot_learning_curves` draws mean ± std per model, one column per dataset × task ×
fraction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from amips.reporting.plots import plt, save_figure
from amips.data.io import read_json
from amips.reporting.tables import write_csv

RUN_FIELDS = ("dataset", "task", "model", "homogenization", "parameters_fraction", "seed")
PANELS = (("val_match_rate", "train_match_rate", "match rate (exhaustive search with the predicted key)"),
          ("val_key_error_rn2", "train_key_error_rn2", "key error rn2 (1 = the identity map)"))


def learning_curve_table(history_files: Sequence[str | Path], runs: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Rows (run fields, step, every ``val_*``/``train_*`` metric) of the evaluated steps of each run.

    ``runs[i]`` holds the identifying fields of the run whose history is ``history_files[i]``; the step selected by
    the run (``info.selected_step``) is marked in the column ``selected``.
    """
    if len(history_files) != len(runs):
        raise ValueError(f"{len(history_files)} history files but {len(runs)} run descriptions")
    rows = []
    for path, run in zip(history_files, runs):
        content = read_json(path, "training history")
        selected = content.get("info", {}).get("selected_step")
        for record in content.get("history", []):
            metrics = {k: v for k, v in record.items() if k.startswith(("val_", "train_"))}
            if metrics:
                rows.append({**{k: run[k] for k in RUN_FIELDS}, "step": int(record["step"]), **metrics,
                             "selected": int(record["step"]) == selected})
    return pd.DataFrame(rows)


def summarize_learning_curves(table: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and count over seeds of every metric, per run configuration and step."""
    group = [c for c in RUN_FIELDS if c != "seed"] + ["step"]
    metrics = [c for c in table.columns if c.startswith(("val_", "train_"))]
    stats = table.groupby(group, sort=True)[metrics].agg(["mean", "std", "count"])
    stats.columns = [f"{metric}_{stat}" for metric, stat in stats.columns]
    return stats.reset_index()


def plot_learning_curves(summary: pd.DataFrame, path: str | Path, title: str = "") -> None:
    """Match rate (validation solid, training dashed) and rn2 vs step, mean ± std over seeds, one line per model ×
    homogenization; one column per dataset × task × parameters fraction."""
    columns = list(summary.groupby(["dataset", "task", "parameters_fraction"], sort=True))
    fig, axes = plt.subplots(len(PANELS), len(columns), figsize=(5.5 * len(columns), 3.6 * len(PANELS)),
                             squeeze=False)
    for col, ((dataset, task, fraction), frame) in enumerate(columns):
        for row, (val, train, ylabel) in enumerate(PANELS):
            ax = axes[row][col]
            for i, ((model, homog), line) in enumerate(frame.groupby(["model", "homogenization"], sort=True)):
                color = f"C{i % 10}"
                line = line.sort_values("step")
                for metric, style, split in ((val, "-", "val"), (train, "--", "train")):
                    if f"{metric}_mean" not in line:
                        continue
                    mean, std = line[f"{metric}_mean"], line[f"{metric}_std"].fillna(0.0)
                    ax.plot(line["step"], mean, style, color=color, marker="o", ms=2,
                            label=f"{model} ({homog}) {split}")
                    ax.fill_between(line["step"], mean - std, mean + std, color=color, alpha=0.15)
            ax.set_xlabel("training step")
            ax.set_ylabel(ylabel, fontsize=8)
            ax.grid(alpha=0.3)
            ax.set_title(f"{dataset} ({task}), parameters = {fraction:g}·m·d", fontsize=9)
        axes[0][col].legend(fontsize=6, loc="best")
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


def learning_curves(history_files: Sequence[str | Path], runs: Sequence[dict[str, Any]], out_csv: str | Path,
                    out_figure: str | Path, title: str = "") -> pd.DataFrame:
    """Write the per-seed table (``out_csv``, one row per run and evaluated step) and the figure; returns the table."""
    table = learning_curve_table(history_files, runs)
    if table.empty:
        raise ValueError("no run has evaluation records (is labels.validation_fraction 0 or eval_every unset?)")
    write_csv(table, out_csv)
    plot_learning_curves(summarize_learning_curves(table), out_figure, title)
    return table
