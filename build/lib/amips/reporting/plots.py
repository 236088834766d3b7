"""Figures. Every figure is written atomically and is readable without its table."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from amips.data.io import atomic_path  # noqa: E402
from amips.reporting.tables import NOT_QUIET_AXIS, any_not_quiet, split_controls  # noqa: E402

CONTROL_STYLES = {"identity": ("k", "-"), "scalar": ("tab:gray", "--"), "ridge": ("tab:red", ":"),
                  "blend": ("tab:purple", "-.")}


def save_figure(fig: plt.Figure, path: str | Path) -> None:
    fig.tight_layout()
    for ax in fig.axes:  # minor tick labels of log axes overlap the major ones
        ax.xaxis.set_minor_formatter(NullFormatter())
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150, bbox_inches="tight", format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)


def plot_match_rate(summary: pd.DataFrame, path: str | Path, title: str = "") -> None:
    """Grouped bars: match rate and MRR per model × homogenization (one panel per dataset × fraction),
    error bars = std over seeds; each control (amips.evaluation.controls) of the dataset is a horizontal line at its match
    rate — the bar a learned model must clear."""
    if "task" in summary:
        summary = summary[summary["task"] == "mips"]
    summary, controls = split_controls(summary)
    panels = summary.groupby(["dataset", "parameters_fraction"], sort=True)
    bars = max(len(frame) for _, frame in panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(max(5.5, 1.2 * bars) * len(panels), 4.5), squeeze=False)
    for ax, ((dataset, fraction), frame) in zip(axes[0], panels):
        labels = [f"{r.model}\n{r.homogenization}" for r in frame.itertuples()]
        x = np.arange(len(frame))
        for offset, metric, name in ((-0.2, "match_rate", "match rate"), (0.2, "mrr", "MRR")):
            ax.bar(x + offset, frame[f"{metric}_mean"], 0.4, yerr=frame[f"{metric}_std"], capsize=3, label=name)
        ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("exhaustive search with the predicted key")
        seeds = int(frame["n_seeds"].min())
        ax.set_title(f"{dataset}, parameters = {fraction:g}·m·d ({seeds} seeds)")
        ax.grid(axis="y", alpha=0.3)
        _control_lines(ax, controls[controls["dataset"] == dataset], "match_rate", "match")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


def _control_style(model: str) -> tuple[str, str]:
    return CONTROL_STYLES.get(model.removeprefix("control: "), ("tab:olive", "--"))


def _control_lines(ax, controls: pd.DataFrame, metric: str, what: str, label_suffix: str = "") -> None:
    """A horizontal reference line per control row at its ``metric`` (the bar a learned model must clear)."""
    for row in controls.itertuples():
        value = getattr(row, f"{metric}_mean")
        color, ls = _control_style(row.model)
        ax.axhline(value, color=color, ls=ls, lw=1.2,
                   label=f"{row.model}{label_suffix} ({what} {value:.3f})")


def _line(ax, frame: pd.DataFrame, x: str, y: str, label: str, **kw) -> None:
    frame = frame.sort_values(f"{x}_mean" if f"{x}_mean" in frame else x)
    xs = frame[f"{x}_mean"] if f"{x}_mean" in frame else frame[x]
    ax.plot(xs, frame[f"{y}_mean"], marker="o", ms=3, label=label, **kw)
    ax.fill_between(xs, frame[f"{y}_mean"] - frame[f"{y}_std"], frame[f"{y}_mean"] + frame[f"{y}_std"], alpha=0.2)


def _style_recall_axes(ax, xlabel: str, ylabel: str, title: str, log_base: int = 10) -> None:
    """Log x-axis, recall-like y-axis in [0, 1], grid and a small title."""
    ax.set_xscale("log", base=log_base)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)


def plot_ivf(curves: pd.DataFrame, path: str | Path) -> None:
    """IVF recall of the exact top-1 vs (a) probes, (b) FLOPs per query incl. the network, (c) wall-clock per query.

    One row per dataset × metric: recall@1 (the match rate) and recall@k for the largest k evaluated.
    Natural vs projected queries; exact search and HNSW as baselines (hnswlib has no FLOP count; faiss HNSW,
    where run, counts its distances)."""
    recalls = sorted((c[: -len("_mean")] for c in curves if c.startswith("recall@") and c.endswith("_mean")),
                     key=lambda c: int(c.split("@")[1]))
    metrics = [recalls[0]] + ([recalls[-1]] if len(recalls) > 1 else [])
    datasets = sorted(curves["dataset"].unique())
    rows = [(d, m) for d in datasets for m in metrics]
    fig, axes = plt.subplots(len(rows), 3, figsize=(16, 4.5 * len(rows)), squeeze=False)
    for row_axes, (dataset, metric) in zip(axes, rows):
        for method, part in curves[curves["dataset"] == dataset].groupby("method", sort=True):
            if method == "exact":
                for ax, x in zip(row_axes[1:], ("flops", "seconds")):
                    ax.axvline(part[f"{x}_mean"].iloc[0], color="k", ls="--", lw=1, label="exact search")
                continue
            if method == "hnsw":
                _line(row_axes[2], part, "seconds", metric, "HNSW (hnswlib)", color="gray", ls=":")
                continue
            if method == "hnsw faiss":  # faiss counts its distances: a FLOPs curve too
                for ax, x in zip(row_axes[1:], ("flops", "seconds")):
                    _line(ax, part, x, metric, "HNSW (faiss)", color="tab:brown", ls=":")
                continue
            if method.startswith("ivf control: "):
                color, ls = _control_style(method.removeprefix("ivf "))
                style = {"ls": ls, "color": color, "lw": 1.2}
            else:
                style = {"ls": "-"} if method == "ivf natural" else {"ls": "--"}
            for ax, x in zip(row_axes, ("nprobe", "flops", "seconds")):
                _line(ax, part, x, metric, method, **style)
        titles = ("probes (nprobe)", "FLOPs per query (incl. network)", "wall-clock per query [s] (incl. network)"
                  + (NOT_QUIET_AXIS if any_not_quiet(curves[curves["dataset"] == dataset]) else ""))
        for ax, title in zip(row_axes, titles):
            _style_recall_axes(ax, title, f"{metric} of the exact top-1",
                               f"IVF-Flat (IP, √m lists) — {dataset}, {metric}", 2 if title.startswith("probes") else 10)
        row_axes[2].legend(fontsize=7, loc="lower right")
    save_figure(fig, path)


def plot_router(curves: pd.DataFrame, path: str | Path) -> None:
    """Match rate vs fraction of keys scanned and vs FLOPs: learned router vs centroid routing."""
    datasets = sorted(curves["dataset"].unique())
    fig, axes = plt.subplots(len(datasets), 2, figsize=(11, 4.5 * len(datasets)), squeeze=False)
    for row_axes, dataset in zip(axes, datasets):
        for method, part in curves[curves["dataset"] == dataset].groupby("method", sort=True):
            style = {"ls": "-"} if method == "centroid routing" else {"ls": "--"}
            _line(row_axes[0], part, "fraction_scanned", "match_rate", method, **style)
            _line(row_axes[1], part, "flops", "match_rate", method, **style)
        for ax, label in zip(row_axes, ("fraction of keys scanned", "FLOPs per query (incl. router)")):
            _style_recall_axes(ax, label, "match rate (top-1 found)", f"cluster routing — {dataset}")
        row_axes[0].legend(fontsize=8, loc="lower right")
    save_figure(fig, path)


def plot_compression(summary: pd.DataFrame, path: str | Path) -> None:
    """Match rate and key error (rn2) vs parameters_fraction per model × homogenization, with the controls
    (amips.evaluation.controls: identity, c·x, ridge, blend) as horizontal reference lines (without controls in the table: the
    identity map, i.e. exact search, at 1)."""
    if "task" in summary:
        summary = summary[summary["task"] == "mips"]
    summary, controls = split_controls(summary)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for (model, hom), part in summary.groupby(["model", "homogenization"], sort=True):
        part = part.sort_values("parameters_fraction")
        # real size: the official budget rule leaves the output skip uncounted (KeyNet: + d² parameters)
        real = part["parameters_fraction"] * part["num_parameters_mean"] / part["parameter_budget_mean"]
        for ax, metric in zip(axes, ("match_rate", "key_error_rn2")):
            ax.errorbar(real, part[f"{metric}_mean"], yerr=part[f"{metric}_std"],
                        marker="o", capsize=3, label=f"{model} ({hom})")
    if controls.empty:
        axes[0].axhline(1.0, color="k", ls="--", lw=1, label="exact search (identity map)")
        axes[1].axhline(1.0, color="k", ls="--", lw=1, label="identity map (key = query)")
    many = controls["dataset"].nunique() > 1
    for dataset, part in controls.groupby("dataset", sort=True):
        suffix = f", {dataset}" if many else ""
        _control_lines(axes[0], part, "match_rate", "match", suffix)
        _control_lines(axes[1], part, "key_error_rn2", "rn2", suffix)
    for ax, label in zip(axes, ("match rate (exhaustive, predicted key)", "key error relative to identity (rn2)")):
        ax.set_xscale("log")
        ax.set_xlabel("real parameter count / (m·d)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylim(0, 1.05)
    for ax in axes:
        ax.legend(fontsize=6)
    save_figure(fig, path)


def plot_convex_diagnostics(trace: pd.DataFrame, path: str | Path) -> None:
    """Early training of SupportNets per model entry (amips.training.convex.trace_training): loss, gradient norm before
    clipping, key norm ‖∇f‖ (target keys have norm 1) and the fraction of raw z-path weights whose rectifier
    derivative is < 0.01, against the step."""
    panels = (("loss", "training loss", True), ("grad_norm", "gradient norm (before clipping to 1)", True),
              ("key_norm", "mean ‖∇f(x)‖ (targets: 1)", True), ("damped_fraction", "raw z-weights with dρ/dV < 0.01", False))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4))
    for ax, (column, label, log) in zip(axes, panels):
        for model, part in trace.groupby("model", sort=False):
            part = part.dropna(subset=[column])
            fixed = "fixed" in str(model)
            ax.plot(part["step"], part[column], ls="--" if fixed else "-", label=model)
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(label, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    save_figure(fig, path)
