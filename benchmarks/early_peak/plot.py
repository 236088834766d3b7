"""Figure of the early-peak investigation (issue 19 item 7): validation match rate, validation and training list
coverage against the step, one line per variant of benchmarks/early_peak/run.py.

    python benchmarks/early_peak/plot.py benchmarks/results/early_peak/early_peak.csv paper_figures/early_peak/early_peak.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def main(csv: str, png: str) -> None:
    data = pd.read_csv(csv)
    panels = [("val_match_rate", "validation match rate"), ("val_list_coverage", "validation list coverage (1 probe)"),
              ("train_list_coverage", "training list coverage (1 probe)")]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4), constrained_layout=True)
    for ax, (column, title) in zip(axes, panels):
        for variant, frame in data.groupby("variant", sort=False):
            ax.plot(frame["step"], frame[column], marker="o", ms=3, label=variant)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("KeyNet-resnet on WordNet-50k (MiniLM), 1200 steps of 1024, retrieval term list_ce τ 0.05")
    Path(png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120, metadata={"Software": None})


if __name__ == "__main__":
    main(*sys.argv[1:3])
