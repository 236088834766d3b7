"""Figures of the experiments beyond the paper: IVF recall vs probes / FLOPs / wall-clock, total cost vs queries served
(break-even), data scaling, and the index families (recall vs FLOPs and vs memory).

Each draws data it is given (aggregated curves, the break-even lines of
:func:`amips.experiments.breakeven.cost_lines`); none imports from a wing above :mod:`amips.reporting`."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from amips.reporting.plots import _line, _style_recall_axes, save_figure
from amips.reporting.tables import NOT_QUIET_AXIS, any_not_quiet

BUDGET_BAND = (0.01, 0.20)  # the FLOP budgets of the target, as fractions of exact search


def _style(method: str) -> dict:
    if method == "ivf natural":
        return {"ls": "-", "color": "k", "lw": 2}
    if method.startswith("hnsw"):
        return {"ls": ":", "color": "gray"}
    return {"ls": "--"}


def _loud_note(curves: pd.DataFrame) -> str:
    """A note for a wall-clock axis when some of its points were not measured on a quiet machine."""
    return NOT_QUIET_AXIS if any_not_quiet(curves) else ""


def plot_ivf_experiment(curves: pd.DataFrame, path: str | Path, title: str) -> None:
    """recall@1 vs nprobe, FLOPs per query (all costs included) and wall-clock per query, one row per dataset.

    Plain IVF is the thick black line; HNSW is dotted (faiss: distance-counted FLOPs and wall-clock; hnswlib:
    wall-clock only); the shaded band on the FLOPs axis is 1–20 % of exact search's FLOPs."""
    datasets = sorted(curves["dataset"].unique())
    fig, axes = plt.subplots(len(datasets), 3, figsize=(17, 4.8 * len(datasets)), squeeze=False)
    for row_axes, dataset in zip(axes, datasets):
        data = curves[curves["dataset"] == dataset]
        for method, part in data.groupby("method", sort=True):
            if method == "exact":
                for ax, x in zip(row_axes[1:], ("flops", "seconds")):
                    ax.axvline(part[f"{x}_mean"].iloc[0], color="k", ls="--", lw=1, label="exact search")
                lo, hi = (f * part["flops_mean"].iloc[0] for f in BUDGET_BAND)
                row_axes[1].axvspan(lo, hi, color="tab:green", alpha=0.08, label="1–20 % of exact FLOPs")
                continue
            if part["recall@1_mean"].isna().all():
                continue
            axes_x = {"hnsw": ("seconds",), "hnsw faiss": ("flops", "seconds")}.get(method, ("nprobe", "flops", "seconds"))
            method = "hnsw (hnswlib)" if method == "hnsw" else method
            for ax, x in zip(row_axes[3 - len(axes_x):], axes_x):
                if part[f"{x}_mean" if f"{x}_mean" in part else x].notna().any():
                    _line(ax, part, x, "recall@1", method, **_style(method))
        titles = ("probes (nprobe)", "FLOPs per query (router/network + coarse + scan)",
                  "wall-clock per query [s] (incl. network)" + _loud_note(data))
        for ax, label in zip(row_axes, titles):
            _style_recall_axes(ax, label, "recall@1 of the exact top-1", f"{title} — {dataset}",
                               2 if label.startswith("probes") else 10)
        row_axes[2].legend(fontsize=6, loc="lower right")
    save_figure(fig, path)


def plot_breakeven(curves: pd.DataFrame, lines: pd.DataFrame, recalls: Sequence[float], path: str | Path,
                   max_queries: float = 1e9) -> None:
    """Total cost F + N·q(r) against queries served N (log-log), per dataset × target recall × axis (FLOPs,
    seconds); ``lines``: :func:`amips.experiments.breakeven.cost_lines` of ``curves`` (a method that never reaches
    the recall has no line)."""
    datasets = sorted(curves["dataset"].unique())
    panels = [(d, r, a) for d in datasets for r in recalls for a in ("flops", "seconds")]
    cols = 2 * len(recalls)
    fig, axes = plt.subplots(len(datasets), cols, figsize=(5.2 * cols, 4.5 * len(datasets)), squeeze=False)
    n = np.logspace(0, np.log10(max_queries), 200)
    for ax, (dataset, recall, axis) in zip(axes.ravel(), panels):
        data = curves[(curves["dataset"] == dataset) & (curves["method"] != "exact")]
        panel = lines[(lines["dataset"] == dataset) & (lines["recall"] == recall) & (lines["axis"] == axis)]
        for line in panel.itertuples(index=False):
            style = _style(line.method) if line.baseline else {"ls": "--", "lw": 1}
            ax.plot(n, line.fixed + n * line.per_query, label=line.method, **style)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("queries served N")
        ax.set_ylabel("total FLOPs" if axis == "flops" else "total seconds")
        ax.set_title(f"{dataset}: recall@1 ≥ {recall:g}, {axis}" + (_loud_note(data) if axis == "seconds" else ""),
                     fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="upper left")
    save_figure(fig, path)


def plot_data_scaling(summary: pd.DataFrame, path: str | Path, budgets: Sequence[float]) -> None:
    """Against the number of distinct training queries n (log axis), one row per dataset: exhaustive match rate,
    key error rn2, routing coverage at 1 probe, and recall@1 within the middle FLOP budget — learned models (solid,
    mean ± std over seeds), refitted controls (dashed) and plain IVF with the query itself (thick black)."""
    datasets = sorted(summary["dataset"].unique())
    budget = sorted(budgets)[len(budgets) // 2]
    panels = (("match_rate", "exhaustive match rate"), ("key_error_rn2", "key error rn2 (x: 1)"),
              ("coverage@1", "routing coverage, 1 probe"), (f"recall@1_at_{budget:g}",
                                                            f"recall@1 within {budget:g} × exact FLOPs"))
    fig, axes = plt.subplots(len(datasets), len(panels), figsize=(5 * len(panels), 4.2 * len(datasets)), squeeze=False)
    for row_axes, dataset in zip(axes, datasets):
        data = summary[summary["dataset"] == dataset]
        for model, part in data.groupby("model", sort=True):
            part = part.sort_values("n_queries")
            style = ({"color": "k", "lw": 2} if model.startswith("plain IVF") else
                     {"ls": "--"} if model.startswith("control") else {"marker": "o"})
            for ax, (col, _) in zip(row_axes, panels):
                if f"{col}_mean" not in part or part[f"{col}_mean"].isna().all():
                    continue
                mean, std = part[f"{col}_mean"].to_numpy(float), part[f"{col}_std"].fillna(0).to_numpy(float)
                ax.plot(part["n_queries"], mean, label=model, **style)
                if not model.startswith(("plain", "control")):
                    ax.fill_between(part["n_queries"], mean - std, mean + std, alpha=0.15)
        for ax, (_, label) in zip(row_axes, panels):
            ax.set_xscale("log")
            ax.set_xlabel("distinct training queries")
            ax.set_title(f"{dataset}: {label}", fontsize=9)
            ax.grid(alpha=0.3)
        row_axes[-1].legend(fontsize=6, loc="lower right")
    save_figure(fig, path)


def _curve_name(row: pd.Series) -> str:
    name = row["index"] if row["method"].startswith("x") else f"{row['index']} {row['method']} {row['run_id']}"
    return name + (f" R{int(row['rerank'])}" if row["family"] == "ivf_pq" and row["rerank"] else "")


PANELS = {"graph (HNSW)": ("hnsw_ip", "hnsw_l2", "hnsw_mips_l2"), "IVF": ("ivf_pq", "ivf_flat_mips_l2"),
          "exhaustive codes": ("pq", "sq8")}


METHOD_STYLES = {"x": "-", "x l2-reduction": (0, (1, 1)), "ĝ ip": "--", "ĝ l2": ":", "ĝ probe": "-."}


MARKERS = "os^vDP*Xh<>"


def plot_index_families(summary: pd.DataFrame, path: str | Path) -> None:
    """recall@1 (mean ± std over seeds) vs FLOPs per query and vs memory bytes per key (both log), one row per
    dataset × family panel (graph, IVF, exhaustive codes). Colour = model run (black: the natural query and the
    reduction), line style = method, marker = index (code size); an IVF-PQ curve per re-rank depth R."""
    runs = sorted(r for r in summary["run_id"].unique() if r)
    colours = {"": "k", **{r: plt.cm.tab10(i % 10) for i, r in enumerate(runs)}}
    markers = {name: MARKERS[i % len(MARKERS)] for i, name in enumerate(sorted(summary["index"].unique()))}
    panels = [(dataset, title, families) for dataset in sorted(summary["dataset"].unique())
              for title, families in PANELS.items() if summary["family"].isin(families).any()]
    fig, axes = plt.subplots(len(panels), 2, figsize=(16, 5.2 * len(panels)), squeeze=False)
    for row_axes, (dataset, title, families) in zip(axes, panels):
        data = summary[(summary["dataset"] == dataset) & summary["family"].isin(families)]
        exact = 2.0 * data["num_keys"].iloc[0] * data["dim"].iloc[0]
        for (index, method, run), part in data.groupby(["index", "method", "run_id"], sort=True):
            split = part["rerank"] if part["family"].iloc[0] == "ivf_pq" else pd.Series(0, index=part.index)
            kw = {"color": colours[run], "ls": METHOD_STYLES.get(method, "-"), "marker": markers[index], "ms": 4,
                  "lw": 1.1}
            for _, curve in part.groupby(split, sort=True):
                curve = curve.sort_values("flops")
                row_axes[0].errorbar(curve["flops"], curve["recall@1"], yerr=curve["recall@1_std"],
                                     label=_curve_name(curve.iloc[0]), **kw)
            best = part.loc[part.groupby("memory_bytes")["recall@1"].idxmax()].sort_values("memory_bytes")
            row_axes[1].errorbar(best["memory_bytes"], best["recall@1"], yerr=best["recall@1_std"],
                                 label=f"{index} {method} {run}".strip(), **kw)
        row_axes[0].axvline(exact, color="gray", ls="--", lw=1, label="exact search (2·m·d)")
        row_axes[0].axvspan(0.01 * exact, 0.2 * exact, color="tab:green", alpha=0.08, label="1–20 % of exact FLOPs")
        row_axes[0].set(xscale="log", xlabel="FLOPs per query (index + re-rank + network)", ylabel="recall@1",
                        title=f"{dataset} — {title}: recall@1 vs FLOPs")
        row_axes[1].set(xscale="log", xlabel="memory bytes per key (index + re-rank keys + network / m)",
                        ylabel="best recall@1 at that memory", title=f"{dataset} — {title}: recall@1 vs memory")
        for ax in row_axes:
            ax.grid(alpha=0.3)
            ax.set_ylim(-0.02, 1.02)
            ax.legend(fontsize=5, loc="lower right", ncol=2)
    save_figure(fig, path)
