"""Figures. Every figure is written atomically and is readable without its table."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from amips.io import atomic_path  # noqa: E402


def save_figure(fig: plt.Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150, bbox_inches="tight", format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)


def plot_match_rate(summary: pd.DataFrame, path: str | Path, title: str = "") -> None:
    """Grouped bars: match rate and MRR per model × homogenization (one panel per dataset × fraction),
    error bars = std over seeds."""
    panels = summary.groupby(["dataset", "parameters_fraction"], sort=True)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, ((dataset, fraction), frame) in zip(axes[0], panels):
        labels = [f"{r.model}\n{r.homogenization}" for r in frame.itertuples()]
        x = np.arange(len(frame))
        for offset, metric, name in ((-0.2, "match_rate", "match rate"), (0.2, "mrr", "MRR")):
            ax.bar(x + offset, frame[f"{metric}_mean"], 0.4, yerr=frame[f"{metric}_std"], capsize=3, label=name)
        ax.set_xticks(x, labels)
        ax.set_ylim(0, 1)
        ax.set_ylabel("exhaustive search with the predicted key")
        seeds = int(frame["n_seeds"].min())
        ax.set_title(f"{dataset}, parameters = {fraction:g}·m·d ({seeds} seeds)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="upper left")
    if title:
        fig.suptitle(title)
    save_figure(fig, path)
