"""The figure of the homogenization ablation: match rate and key error per wrapper, one column per dataset, over
the table of :func:`amips.pipeline.stages.homogenization.homogenization_table` (every wrapper × model × dataset,
trained or skipped, with the datasets' argmax coverage)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from amips.reporting.plots import plt, save_figure


def plot_homogenization(table: pd.DataFrame, path: str | Path, title: str = "",
                        order: Sequence[str] | None = None) -> None:
    """Grouped bars per dataset: x = wrapper, one bar per model; rows: match rate, key error rn2 (log).
    Skipped cells are labelled (``= none``: a no-op on unit-norm queries; ``n/a``: does not apply). With several
    parameter fractions, each dataset's panel shows its most frequent one (the table has them all). ``order``: the
    wrappers' order on the x axis (the pipeline passes :data:`amips.models.homogenize.HOMOGENIZATIONS`; None: as they
    first appear in the table)."""
    datasets = list(dict.fromkeys(table["dataset"]))
    models = list(dict.fromkeys(table["model"]))
    order = list(dict.fromkeys(table["homogenization"])) if order is None else order
    wrappers = [h for h in order if h in set(table["homogenization"])]
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
