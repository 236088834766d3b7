"""Aggregate per-run metrics into tables: one row per run, and mean ± std over seeds per configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from amips.data.io import InputError, atomic_path, atomic_write_text, read_json
from amips.reporting.budgets import Budgets, best_within_budget

GROUP_COLUMNS = ("dataset", "task", "model", "kind", "homogenization", "parameters_fraction")
SUMMARY_METRICS = ("match_rate", "mrr", "recall@1", "recall@5", "recall@10", "recall@50", "recall@1%",
                   "key_error_rn2", "score_error", "routing_accuracy", "num_parameters", "parameter_budget", "train_seconds",
                   "steps_per_second")


CONTROL_KIND = "control"  # the ``kind`` of amips.evaluation.controls rows (model column 'control: <name>')


def split_controls(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(learned-model rows, control rows) of a runs/summary/curves table."""
    if "kind" not in frame:
        return frame, frame.iloc[0:0]
    is_control = frame["kind"] == CONTROL_KIND
    return frame[~is_control], frame[is_control]


def load_runs(metric_files: Iterable[str | Path]) -> pd.DataFrame:
    """One row per ``metrics.json`` (non-finite numbers, which JSON holds as null, restored: an infinite error still
    makes its mean infinite)."""
    rows = [read_json(path, "metrics file") for path in metric_files]
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
        cells = ["–" if pd.isna(row[g]) else str(row[g]) for g in group]  # controls have no parameters_fraction
        cells += [_fmt(row[f"{m}_mean"], row[f"{m}_std"], digits) for m in metrics]
        cells.append(str(int(row["n_seeds"])))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _fmt(mean: float, std: float, digits: int) -> str:
    if pd.isna(mean):
        return "–"
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
    atomic_write_text(summary_md, summary_markdown(summary, markdown_metrics))
    return summary


ROUTER_METRICS = ("routing_accuracy", "match_rate", "key_error_rn2", "num_parameters")


def summary_markdown(summary: pd.DataFrame, metrics: Sequence[str]) -> str:
    """The summary as Markdown sections that are never mixed: learned MIPS models, the controls they must beat,
    and cluster routers (whose routing accuracy, not a per-cluster match rate, is the comparable number)."""
    task = summary["task"] if "task" in summary else pd.Series("mips", index=summary.index)
    control = summary["kind"].eq("control") if "kind" in summary else pd.Series(False, index=summary.index)
    sections = [
        ("MIPS models: exhaustive search with the predicted key", (task == "mips") & ~control, metrics),
        ("Controls a learned model must beat (fitted on the same training rows)", control, metrics),
        ("Cluster routers: route to the top-scored cluster, then search it with the predicted key",
         task == "router", ROUTER_METRICS),
    ]
    parts = []
    for title, rows, columns in sections:
        if rows.any():
            parts.append(f"## {title}\n\n{to_markdown(summary[rows], columns)}")
    return "\n".join(parts)


def separate_fractions(data: pd.DataFrame) -> pd.DataFrame:
    """Name the size in the ``method`` label of a method run at several ``parameters_fraction`` values (e.g.
    'hybrid supportnet (radial) frac 0.01'), so that curves average over seeds only, never over model sizes."""
    if "method" not in data or "parameters_fraction" not in data:
        return data
    sizes = data.groupby("method")["parameters_fraction"].nunique()
    several = data["method"].isin(sizes[sizes > 1].index) & data["parameters_fraction"].notna()
    data = data.copy()
    data.loc[several, "method"] = (data.loc[several, "method"] + " frac "
                                   + data.loc[several, "parameters_fraction"].map(lambda f: f"{f:g}"))
    return data


def summarize_curves(frames: Iterable[pd.DataFrame], keys: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Mean ± std over seeds of curve points (rows sharing ``keys``, e.g. method × nprobe); a method run at several
    model sizes is split by size first (:func:`separate_fractions`)."""
    data = separate_fractions(pd.concat(list(frames), ignore_index=True))
    keys = [k for k in keys if k in data.columns]
    metrics = [m for m in metrics if m in data.columns]
    grouped = data.groupby(keys, sort=True, dropna=False)
    mean = grouped[metrics].mean().add_suffix("_mean")
    std = grouped[metrics].std(ddof=1).fillna(0.0).add_suffix("_std")
    parts = [mean, std, grouped.size().rename("n_seeds")]
    if QUIET in data:  # a point is quiet when every seed's sweep was (a file from before the column: unmarked)
        data[QUIET] = data[QUIET].map(lambda v: True if pd.isna(v) else bool(v))
        parts.append(data.groupby(keys, sort=True, dropna=False)[QUIET].all())
    return pd.concat(parts, axis=1).reset_index()


QUIET = "quiet_machine"  # column of the sweeps (amips.index.timing.load_columns): wall-clock measured at low load
NOT_QUIET_MARK = " †"
NOT_QUIET_AXIS = "\n† not quiet: measured on a loaded machine"  # appended to a figure's wall-clock axis label
NOT_QUIET_NOTE = ("\n† wall-clock measured on a loaded machine (1-minute load average above "
                  "experiments.ivf.quiet_load before or after the sweep; columns load_before, load_after, "
                  "quiet_machine of the CSV): not a quiet-machine number, not comparable across methods.\n")


def any_not_quiet(frame: pd.DataFrame) -> bool:
    """Some row of a curve table was measured on a loaded machine (rows without the record count as quiet)."""
    return QUIET in frame and not frame[QUIET].map(lambda v: True if pd.isna(v) else bool(v)).all()


def budget_markdown(table: pd.DataFrame, cost: str, metric: str, label: str) -> str:
    """Pivot of :func:`amips.reporting.budgets.best_within_budget`: one row per method, one column per budget."""
    budgets = sorted(table[f"{cost}_budget"].unique())
    header = ["dataset", "method"] + [f"{label} ≤ {b:.3g}" for b in budgets]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    marked = False
    for (dataset, method), frame in table.groupby(["dataset", "method"], sort=True):
        cells = [str(dataset), str(method)]
        by_budget = {row[f"{cost}_budget"]: row for _, row in frame.iterrows()}
        for b in budgets:
            row = by_budget.get(b)
            mean, std = (row[f"{metric}_mean"], row[f"{metric}_std"]) if row is not None else (np.nan, np.nan)
            loud = not pd.isna(mean) and QUIET in row and not bool(row[QUIET])
            marked |= loud
            cells.append("–" if pd.isna(mean) else _fmt(mean, std, 3) + (NOT_QUIET_MARK if loud else ""))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n" + (NOT_QUIET_NOTE if marked else "")


CURVE_METRICS = ("recall@1", "recall@10", "routing_coverage", "flops", "seconds", "scanned_keys", "match_rate",
                 "fraction_scanned")
COVERAGE_PROBES = (1, 2, 4, 8, 16)


def _read_csvs(files: Iterable[str | Path]) -> list[pd.DataFrame]:
    frames = []
    for path in files:
        try:
            frames.append(pd.read_csv(path))
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InputError(f"cannot read curve file {path}: {exc}") from exc
    if not frames:
        raise InputError("no curve files to aggregate")
    return frames


def aggregate_ivf(files: Iterable[str | Path], out_csv: str | Path, out_md: str | Path, budgets: Budgets,
                  title: str = "IVF with natural vs projected queries",
                  extra_metrics: Sequence[str] = ()) -> pd.DataFrame:
    """IVF curves (mean ± std over seeds per method × nprobe/ef) and the equal-compute tables.

    ``budgets`` are fractions of exact search's cost (FLOPs, and measured wall-clock) on the same dataset.
    ``extra_metrics``: further columns averaged over seeds (e.g. training costs).
    """
    curves = summarize_curves(_read_csvs(files), ("dataset", "method", "nprobe", "ef"),
                              (*CURVE_METRICS, *extra_metrics))
    write_csv(curves, out_csv)
    parts = [f"# {title}\n",
             "Best recall@1 of the exact top-1 (match rate) reachable within a per-query budget, given as a "
             "fraction of exact search's cost on the same data. Projected-query costs include the network.\n"]
    for cost, label in (("flops", "FLOPs"), ("seconds", "wall-clock")):
        tables = []
        for dataset, frame in curves.groupby("dataset"):
            exact = frame.loc[frame["method"] == "exact", f"{cost}_mean"]
            if exact.empty:
                continue
            table = best_within_budget(frame[frame["method"] != "exact"], cost, "recall@1", budgets,
                                       reference=float(exact.iloc[0]), carry=(QUIET,) if cost == "seconds" else ())
            if QUIET in table:  # a point is quiet when its sweep was, and so was exact search (the reference)
                table[QUIET] = table[QUIET].map(lambda v: True if v is None or pd.isna(v) else bool(v))
                table[QUIET] &= bool(frame.loc[frame["method"] == "exact", QUIET].all())
            tables.append(table)
        if tables:
            parts.append(f"\n## At equal {label} (budget as a fraction of exact search)\n\n")
            parts.append(budget_markdown(pd.concat(tables), cost, "recall@1", label))
    if "routing_coverage_mean" in curves:
        parts.append("\n## Routing coverage (probe with the query or the predicted key)\n\n"
                     "Fraction of test queries whose exact top-1 key lies in one of the p lists probed: the natural "
                     "query's recall@1, and what probing with a predicted key then ranking with the query reaches.\n\n")
        parts.append(routing_coverage_markdown(curves))
    atomic_write_text(out_md, "".join(parts))
    return curves


def routing_coverage_markdown(curves: pd.DataFrame, probes: Sequence[int] = COVERAGE_PROBES) -> str:
    """Markdown: routing coverage (mean ± std over seeds) per dataset × method at nprobe = p for each p in ``probes``."""
    rows = curves[curves["nprobe"].isin(probes) & curves["routing_coverage_mean"].notna()]
    header = ["dataset", "method"] + [f"p = {p}" for p in probes]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (dataset, method), frame in rows.groupby(["dataset", "method"], sort=True):
        by_p = frame.set_index("nprobe")
        cells = [_fmt(by_p.at[p, "routing_coverage_mean"], by_p.at[p, "routing_coverage_std"], 3)
                 if p in by_p.index else "–" for p in probes]
        lines.append("| " + " | ".join([str(dataset), str(method), *cells]) + " |")
    return "\n".join(lines) + "\n"


def aggregate_router(files: Iterable[str | Path], out_csv: str | Path, out_md: str | Path) -> pd.DataFrame:
    """Routing curves (mean ± std over seeds per method × clusters probed) and a Markdown table."""
    curves = summarize_curves(_read_csvs(files), ("dataset", "method", "clusters_probed"),
                              ("match_rate", "fraction_scanned", "flops"))
    write_csv(curves, out_csv)
    lines = ["# Cluster routing: learned router vs centroid routing\n\n",
             "| dataset | method | clusters probed | match rate | fraction scanned | FLOPs/query | seeds |\n",
             "|---|---|---|---|---|---|---|\n"]
    for row in curves.itertuples(index=False):
        r = row._asdict()
        lines.append(f"| {r['dataset']} | {r['method']} | {r['clusters_probed']} | "
                     f"{_fmt(r['match_rate_mean'], r['match_rate_std'], 3)} | "
                     f"{_fmt(r['fraction_scanned_mean'], r['fraction_scanned_std'], 3)} | "
                     f"{r['flops_mean']:.3g} | {r['n_seeds']} |\n")
    atomic_write_text(out_md, "".join(lines))
    return curves
