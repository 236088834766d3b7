"""Figures of the IVF experiments: recall vs probes / FLOPs / wall-clock, and total cost vs queries served."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from amips.experiments.breakeven import BASELINES, fixed_cost, per_query_cost
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


def plot_breakeven(curves: pd.DataFrame, recalls: Sequence[float], path: str | Path,
                   max_queries: float = 1e9) -> None:
    """Total cost F + N·q(r) against queries served N (log-log), per dataset × target recall × axis (FLOPs,
    seconds); a method that never reaches the recall has no line."""
    datasets = sorted(curves["dataset"].unique())
    panels = [(d, r, a) for d in datasets for r in recalls for a in ("flops", "seconds")]
    cols = 2 * len(recalls)
    fig, axes = plt.subplots(len(datasets), cols, figsize=(5.2 * cols, 4.5 * len(datasets)), squeeze=False)
    n = np.logspace(0, np.log10(max_queries), 200)
    for ax, (dataset, recall, axis) in zip(axes.ravel(), panels):
        data = curves[(curves["dataset"] == dataset) & (curves["method"] != "exact")]
        for method, frame in data.groupby("method", sort=True):
            if frame[f"{axis}_mean"].isna().all():
                continue
            q = per_query_cost(frame, axis, recall)
            if np.isnan(q):
                continue
            style = _style(method) if method in BASELINES else {"ls": "--", "lw": 1}
            ax.plot(n, fixed_cost(frame, axis) + n * q, label=method, **style)
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
