"""The homogenization ablation: a table (every wrapper × model × dataset, trained or skipped, with the datasets'
argmax coverage) and its figure (match rate and key error per wrapper, one column per dataset)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from amips.models.homogenize import HOMOGENIZATIONS
from amips.reporting.plots import plt, save_figure
from amips.data.io import read_json
from amips.training.sweeps import Skip

METRICS = ("match_rate", "mrr", "recall@10", "key_error_rn2", "num_parameters")
COVERAGE = ("num_keys", "key_norm_log_std", "hit_by_queries", "hit_by_directions")


def homogenization_table(summary: pd.DataFrame, skips: Iterable[Skip], coverage: dict[str, dict[str, Any]]
                         ) -> pd.DataFrame:
    """One row per (dataset, model, homogenization, parameters_fraction): ``status`` = ``trained`` with mean/std/n_seeds of
    :data:`METRICS`, or ``skipped: <reason>``; plus each dataset's coverage counts (:mod:`amips.evaluation.coverage`)."""
    mips = summary[summary["task"] == "mips"] if "task" in summary else summary
    columns = ["dataset", "model", "kind", "homogenization", "parameters_fraction"]
    keep = columns + [c for m in METRICS for c in (f"{m}_mean", f"{m}_std") if c in mips] + ["n_seeds"]
    trained = mips[keep].assign(status="trained")
    skipped = pd.DataFrame(
        [{"dataset": s.run["dataset"], "model": s.run["model"], "homogenization": s.run["homogenization"],
          "parameters_fraction": float(s.run["fraction"]), "status": f"skipped: {s.reason}"}
         for s in skips if s.run["task"] == "mips"],
        columns=["dataset", "model", "homogenization", "parameters_fraction", "status"],
    ).drop_duplicates()
    kinds = trained.drop_duplicates("model").set_index("model")["kind"]
    skipped["kind"] = skipped["model"].map(kinds)
    table = pd.concat([trained, skipped], ignore_index=True)
    for field in COVERAGE:
        table[f"dataset_{field}"] = table["dataset"].map({d: c[field] for d, c in coverage.items()})
    order = {name: i for i, name in enumerate(HOMOGENIZATIONS)}
    table["_order"] = table["homogenization"].map(order)
    table = table.sort_values(["dataset", "parameters_fraction", "model", "_order"])
    return table.drop(columns="_order").reset_index(drop=True)


def read_coverage(files: Sequence[str | Path], datasets: Sequence[str]) -> dict[str, dict[str, Any]]:
    """dataset → the JSON written by :func:`amips.evaluation.coverage.dataset_coverage` (files in the order of ``datasets``)."""
    return {name: read_json(path, "key coverage record") for name, path in zip(datasets, files)}


def plot_homogenization(table: pd.DataFrame, path: str | Path, title: str = "") -> None:
    """Grouped bars per dataset: x = wrapper, one bar per model; rows: match rate, key error rn2 (log).
    Skipped cells are labelled (``= none``: a no-op on unit-norm queries; ``n/a``: does not apply). With several
    parameter fractions, each dataset's panel shows its most frequent one (the table has them all)."""
    datasets = list(dict.fromkeys(table["dataset"]))
    models = list(dict.fromkeys(table["model"]))
    wrappers = [h for h in HOMOGENIZATIONS if h in set(table["homogenization"])]
    fig, axes = plt.subplots(2, len(datasets), figsize=(4.8 * len(datasets), 7.0), squeeze=False)
    width = 0.8 / max(1, len(models))
    for col, dataset in enumerate(datasets):
        part = table[table["dataset"] == dataset]
        fraction = part["parameters_fraction"].mode().iloc[0]
        part = part[part["parameters_fraction"] == fraction]
        for row, (metric, label) in enumerate((("match_rate", "match rate"), ("key_error_rn2", "key error rn2"))):
            ax = axes[row][col]
            for i, model in enumerate(models):
                cells = part[part["model"] == model].set_index("homogenization").reindex(wrappers)
                x = np.arange(len(wrappers)) + (i - (len(models) - 1) / 2) * width
                ax.bar(x, cells[f"{metric}_mean"], width, yerr=cells[f"{metric}_std"], capsize=2, label=model)
                for xi, status in zip(x, cells["status"]):
                    if isinstance(status, str) and status.startswith("skipped"):
                        mark = "= none" if "no-op" in status else "n/a"
                        ax.text(xi, 0.02, mark, rotation=90, ha="center", va="bottom", fontsize=7,
                                transform=ax.get_xaxis_transform())
            ax.set_xticks(np.arange(len(wrappers)), wrappers, rotation=20, fontsize=8)
            ax.set_ylabel(label)
            ax.grid(axis="y", alpha=0.3)
            if row == 0:
                ax.set_ylim(0, 1)
                cov = part.iloc[0]
                ax.set_title(f"{dataset}, parameters = {fraction:g}·m·d\nargmax keys: {int(cov['dataset_hit_by_queries'])} by queries, "
                             f"≥ {int(cov['dataset_hit_by_directions'])} exposed of {int(cov['dataset_num_keys'])}",
                             fontsize=9)
                ax.legend(fontsize=7, loc="upper right")
            else:
                ax.set_yscale("log")
                ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    if title:
        fig.suptitle(title)
    save_figure(fig, path)
