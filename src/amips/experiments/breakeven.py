"""When amortization pays off: total cost of serving N queries at a fixed recall@1, and the break-even N.

For a method M and a target recall r, on one cost axis (FLOPs or seconds):

* per-query cost q_M(r) = the cheapest operating point (mean over seeds) whose recall@1 ≥ r (none: M never
  reaches r);
* fixed cost F_M = training + the exact labels it is trained on + its index build where it has its own
  (HNSW); the IVF partition is shared by every IVF method and not charged;
* total(N) = F_M + N · q_M(r).

Against a baseline B the break-even is N* = max(0, (F_M − F_B) / (q_B − q_M)) when q_M < q_B, and "never" when
q_M ≥ q_B (M's fixed cost is then never paid back, ties count as never unless F_M ≤ F_B) or M does not reach r;
N* = 0 when the baseline does not reach r but M does.
"""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd

from amips.reporting.tables import NOT_QUIET_MARK, NOT_QUIET_NOTE, QUIET

FIXED_PARTS = {"flops": ("train_flops", "label_flops", "build_flops"),
               "seconds": ("train_seconds", "label_seconds", "build_seconds")}
BASELINES = ("ivf natural", "hnsw faiss", "hnsw")  # hnsw (hnswlib) has no FLOP count: a baseline on seconds only


def fixed_cost(frame: pd.DataFrame, axis: str) -> float:
    """F_M on ``axis`` from the mean columns of a method's curve rows (missing parts count 0)."""
    total = 0.0
    for part in FIXED_PARTS[axis]:
        column = f"{part}_mean"
        if column in frame and frame[column].notna().any():
            total += float(frame[column].dropna().iloc[0])
    return total


def per_query_cost(frame: pd.DataFrame, axis: str, recall: float, metric: str = "recall@1") -> float:
    """q_M(r): the least mean cost among a method's operating points with mean recall ≥ r (NaN if none)."""
    fits = frame[frame[f"{metric}_mean"] >= recall]
    return float(fits[f"{axis}_mean"].min()) if len(fits) else float("nan")


def cost_lines(curves: pd.DataFrame, recalls: Sequence[float],
               axes: Sequence[str] = ("flops", "seconds")) -> pd.DataFrame:
    """The lines of the break-even figure (:func:`amips.reporting.experiment_plots.plot_breakeven`): per dataset ×
    recall target × axis, each method but exact search with a cost on the axis that reaches the recall, in method
    order, with its fixed cost F_M (``fixed``), per-query cost q_M(r) (``per_query``) and ``baseline`` (one of
    :data:`BASELINES`)."""
    rows = []
    for dataset in sorted(curves["dataset"].unique()):
        data = curves[(curves["dataset"] == dataset) & (curves["method"] != "exact")]
        for recall in recalls:
            for axis in axes:
                for method, frame in data.groupby("method", sort=True):
                    if frame[f"{axis}_mean"].isna().all():
                        continue
                    q = per_query_cost(frame, axis, recall)
                    if math.isnan(q):
                        continue
                    rows.append({"dataset": dataset, "recall": recall, "axis": axis, "method": method,
                                 "fixed": fixed_cost(frame, axis), "per_query": q, "baseline": method in BASELINES})
    return pd.DataFrame(rows, columns=["dataset", "recall", "axis", "method", "fixed", "per_query", "baseline"])


def breakeven_n(fixed: float, per_query: float, base_fixed: float, base_per_query: float) -> float:
    """N* of the module docstring: a number ≥ 0, ``inf`` for never, NaN if the method does not reach the recall."""
    if math.isnan(per_query):
        return float("nan")
    if math.isnan(base_per_query):
        return 0.0
    if per_query < base_per_query:
        return max(0.0, (fixed - base_fixed) / (base_per_query - per_query))
    return 0.0 if per_query == base_per_query and fixed <= base_fixed else float("inf")


def breakeven_table(curves: pd.DataFrame, recalls: Sequence[float],
                    axes: Sequence[str] = ("flops", "seconds")) -> pd.DataFrame:
    """One row per dataset × method × recall target × axis × baseline present: fixed and per-query cost of the
    method and of the baseline, and the break-even N (``breakeven_queries``; inf = never, NaN = not reached).
    Where the curves carry ``quiet_machine`` (amips.index.timing), each row says whether every point of the method and
    of the baseline was measured on a quiet machine (always True on the FLOPs axis)."""
    rows = []
    for dataset, data in curves[curves["method"] != "exact"].groupby("dataset", sort=True):
        methods = {m: f for m, f in data.groupby("method", sort=True)}
        for recall in recalls:
            for axis in axes:
                for base in (b for b in BASELINES if b in methods and methods[b][f"{axis}_mean"].notna().any()):
                    bf, bq = fixed_cost(methods[base], axis), per_query_cost(methods[base], axis, recall)
                    for method, frame in methods.items():
                        if method in BASELINES or frame[f"{axis}_mean"].isna().all():
                            continue
                        fixed, q = fixed_cost(frame, axis), per_query_cost(frame, axis, recall)
                        rows.append({"dataset": dataset, "method": method, "recall": recall, "axis": axis,
                                     "baseline": base, "fixed_cost": fixed, "per_query_cost": q,
                                     "baseline_fixed_cost": bf, "baseline_per_query_cost": bq,
                                     "breakeven_queries": breakeven_n(fixed, q, bf, bq)})
                        if QUIET in data:
                            rows[-1][QUIET] = axis != "seconds" or bool(_quiet(frame) and _quiet(methods[base]))
    return pd.DataFrame(rows)


def _quiet(frame: pd.DataFrame) -> bool:
    """Every point of a curve measured on a quiet machine (a point without the record counts as quiet)."""
    return bool(frame[QUIET].map(lambda v: True if pd.isna(v) else bool(v)).all())


def _fmt_n(value: float) -> str:
    if math.isnan(value):
        return "never (recall not reached)"
    return "never" if math.isinf(value) else f"{value:.3g}"


def breakeven_markdown(table: pd.DataFrame) -> str:
    """Markdown: per dataset, recall target and axis, each method's costs and its break-even N per baseline."""
    lines = ["# When amortization pays off\n\n",
             "Break-even number of queries N* after which a learned method's total cost (training + labels + "
             "N × per-query cost at the target recall@1) falls below the baseline's (HNSW pays its build; the IVF "
             "partition is shared). Training FLOPs are an estimate (3 × forward per sample); seconds are measured.\n"]
    for (dataset, recall, axis), frame in table.groupby(["dataset", "recall", "axis"], sort=True):
        lines.append(f"\n## {dataset}, recall@1 ≥ {recall:g}, {axis}\n\n")
        bases = sorted(frame["baseline"].unique())
        per_base = {b: frame[frame["baseline"] == b].iloc[0] for b in bases}
        lines.append("baselines: " + "; ".join(
            f"{b}: per query {_num(r['baseline_per_query_cost'])}, fixed {_num(r['baseline_fixed_cost'])}"
            for b, r in per_base.items()) + "\n\n")
        header = ["method", "fixed", "per query"] + [f"N* vs {b}" for b in bases]
        lines += ["| " + " | ".join(header) + " |\n", "|" + "---|" * len(header) + "\n"]
        marked = False
        for method, rows in frame.groupby("method", sort=True):
            first = rows.iloc[0]
            cells = [method, _num(first["fixed_cost"]), _num(first["per_query_cost"])]
            for b in bases:
                row = rows.loc[rows["baseline"] == b].iloc[0]
                loud = QUIET in row and not bool(row[QUIET])
                marked |= loud
                cells.append(_fmt_n(float(row["breakeven_queries"])) + (NOT_QUIET_MARK if loud else ""))
            lines.append("| " + " | ".join(cells) + " |\n")
        lines.append(NOT_QUIET_NOTE if marked else "")
    return "".join(lines)


def _num(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.3g}"
