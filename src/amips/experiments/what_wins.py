"""What wins where (issue 19 item 4): per dataset and budget, the best learned method against the best off-the-shelf
configuration of every index family.

Inputs are the aggregated curves the pipeline writes (mean ± std over seeds, one row per operating point):
``ivf.csv`` (plain IVF, faiss HNSW, IVF probed with each model's ĝ), ``ivf_hybrid.csv``, ``ivf_routers.csv`` and
``index_families.csv`` (HNSW / IVF-PQ / PQ / SQ8 with x and with ĝ, the MIPS-to-L2 reduction; with bytes per key).
Every row is classified (:func:`classify`) as

* ``off-the-shelf`` — a faiss index searched with the query itself, in its family (IVF-Flat, HNSW, IVF-PQ, PQ, SQ8,
  HNSW/IVF on the MIPS-to-L2 reduction); exact search is the reference of the budgets;
* ``learned`` — anything that runs a trained or fitted model per query (ĝ as the probe or query of any index, the
  hybrid probes, the list routers, the ellipsoid router);
* ``control`` — the identity/ridge/blend controls (reported elsewhere, left out here).

Budgets (:class:`amips.reporting.budgets.Budgets`, the config's ``budgets`` section) are fractions of exact search's
FLOPs per query and bytes per key (memory of the index plus, for a learned row, the network's parameters amortised
over the keys). A cell is the best mean
recall@1 among operating points within the budget; the winner is the higher of the best learned and the best
off-the-shelf value (ties: off-the-shelf, which needs no training).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Iterable

import pandas as pd

from amips.reporting.budgets import Budgets, admits

OFF_THE_SHELF, LEARNED, CONTROL, REFERENCE = "off-the-shelf", "learned", "control", "reference"

# method name of the IVF curves → (family, kind); the first pattern that matches wins
_IVF_METHODS: tuple[tuple[str, str, str], ...] = (
    (r"^exact$", "exact", REFERENCE),
    (r"^ivf natural$", "IVF-Flat", OFF_THE_SHELF),
    (r"^hnsw faiss$", "HNSW", OFF_THE_SHELF),
    (r"^hnsw$", "HNSW (hnswlib, no FLOPs)", OFF_THE_SHELF),
    (r"^ivf control", "control", CONTROL),
    (r"^(ivf|hybrid|router|split [0-9.]+) ", "IVF-Flat", LEARNED),
)
_FAMILY_NAMES = {"hnsw_ip": "HNSW", "hnsw_l2": "HNSW", "ivf_pq": "IVF-PQ", "pq": "PQ", "sq8": "SQ8",
                 "hnsw_mips_l2": "MIPS→L2 HNSW", "ivf_flat_mips_l2": "MIPS→L2 IVF-Flat"}


def classify(row: pd.Series) -> tuple[str, str]:
    """(family, kind) of an aggregated curve row (module docstring)."""
    family = row.get("family")
    if isinstance(family, str) and family:
        learned = isinstance(row.get("run_id"), str) and bool(row.get("run_id"))
        return _FAMILY_NAMES.get(family, family), LEARNED if learned else OFF_THE_SHELF
    method = str(row.get("method", ""))
    for pattern, name, kind in _IVF_METHODS:
        if re.search(pattern, method):
            return name, kind
    raise ValueError(f"what-wins table: cannot classify method {method!r}")


def label(row: pd.Series) -> str:
    """A row's method as the table shows it."""
    if isinstance(row.get("family"), str) and row.get("family"):
        parts = [str(row.get("index", row["family"])), str(row.get("method", ""))]
        if isinstance(row.get("run_id"), str) and row.get("run_id"):
            parts.append(str(row["run_id"]))
        return " ".join(p for p in parts if p)
    return str(row["method"])


def load_curves(files: Iterable[str | Path]) -> pd.DataFrame:
    """The aggregated curves of ``files`` (missing or empty files skipped), classified, one frame."""
    frames = []
    for path in files:
        path = Path(path)
        if not path.exists() or path.stat().st_size == 0:
            continue
        frame = pd.read_csv(path)
        if len(frame):
            frames.append(_mean_columns(frame))
    if not frames:
        raise ValueError("what-wins table: no curves to compare")
    curves = pd.concat(frames, ignore_index=True, sort=False).drop_duplicates()
    kinds = curves.apply(classify, axis=1, result_type="expand")
    curves["index_family"], curves["kind"] = kinds[0], kinds[1]
    curves["label"] = curves.apply(label, axis=1)
    return curves


def _mean_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Name every mean ``<metric>_mean``: the index-family table writes the mean as ``<metric>`` beside
    ``<metric>_std``."""
    return frame.rename(columns={c: f"{c}_mean" for c in frame.columns
                                 if f"{c}_std" in frame.columns and f"{c}_mean" not in frame.columns})


def _best(frame: pd.DataFrame, cost: str, limit: float) -> tuple[float, str]:
    fits = frame[admits(frame[cost], limit)].dropna(subset=["recall@1_mean"])
    if not len(fits):
        return math.nan, ""
    best = fits.loc[fits["recall@1_mean"].idxmax()]
    return float(best["recall@1_mean"]), str(best["label"])


def exact_flops(curves: pd.DataFrame) -> float:
    """Exact search's FLOPs per query for one dataset's curves: its ``exact`` row, else 2·m·d from the
    ``num_keys``/``dim`` columns of the index-family rows; NaN when neither is there."""
    exact = curves[curves["kind"] == REFERENCE]
    if len(exact) and "flops_mean" in exact and exact["flops_mean"].notna().any():
        return float(exact["flops_mean"].dropna().iloc[0])
    if {"num_keys", "dim"} <= set(curves.columns):
        sizes = curves[["num_keys", "dim"]].dropna()
        if len(sizes):
            return 2.0 * float(sizes["num_keys"].iloc[0]) * float(sizes["dim"].iloc[0])
    return math.nan


def what_wins(curves: pd.DataFrame, flops_budgets: Budgets,
              memory_budgets: Budgets = Budgets.absolute(())) -> pd.DataFrame:
    """One row per (dataset, axis, budget): the best recall@1 of each off-the-shelf family and of the learned methods
    within the budget, the best of each side with its method, the winner and its margin.

    ``flops_budgets`` are fractions of the dataset's exact-search FLOPs (:func:`exact_flops`); ``memory_budgets``
    are bytes per key (rows with ``memory_bytes_mean``)."""
    rows = []
    for dataset, data in curves.groupby("dataset", sort=True):
        data = data[data["kind"].isin([OFF_THE_SHELF, LEARNED])]
        reference = exact_flops(curves[curves["dataset"] == dataset])
        axes = []
        if not math.isnan(reference) and "flops_mean" in data:
            axes += [("FLOPs", "flops_mean", b, flops_budgets.limit(b, reference)) for b in flops_budgets.values]
        if "memory_bytes_mean" in data:
            axes += [("bytes per key", "memory_bytes_mean", b, memory_budgets.limit(b)) for b in memory_budgets.values]
        for axis, cost, shown, budget in axes:
            measured = data.dropna(subset=[cost])
            row = {"dataset": dataset, "axis": axis, "budget": shown}
            sides = {}
            for kind in (OFF_THE_SHELF, LEARNED):
                part = measured[measured["kind"] == kind]
                best = (math.nan, "")
                for family, frame in part.groupby("index_family", sort=True):
                    value, method = _best(frame, cost, budget)
                    if kind == OFF_THE_SHELF:
                        row[family] = value
                    if not math.isnan(value) and (math.isnan(best[0]) or value > best[0]):
                        best = (value, method)
                sides[kind] = best
            row.update({"best off-the-shelf": sides[OFF_THE_SHELF][0], "off-the-shelf method": sides[OFF_THE_SHELF][1],
                        "best learned": sides[LEARNED][0], "learned method": sides[LEARNED][1]})
            off, learned = sides[OFF_THE_SHELF][0], sides[LEARNED][0]
            if math.isnan(off) and math.isnan(learned):
                row["winner"], row["margin"] = "none fits", math.nan
            elif math.isnan(learned) or (not math.isnan(off) and off >= learned):
                row["winner"], row["margin"] = OFF_THE_SHELF, (off - learned) if not math.isnan(learned) else math.nan
            else:
                row["winner"], row["margin"] = LEARNED, (learned - off) if not math.isnan(off) else math.nan
            rows.append(row)
    return pd.DataFrame(rows)


def _cell(value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def what_wins_markdown(table: pd.DataFrame) -> str:
    """The table of :func:`what_wins` as Markdown, one section per axis, with the winner per budget."""
    fixed = {"dataset", "axis", "budget", "best off-the-shelf", "off-the-shelf method", "best learned",
             "learned method", "winner", "margin"}
    parts = ["Best recall@1 (exact top-1 found) within each budget: every off-the-shelf index family searched with the "
             "query itself, against the best learned method (a network per query: ĝ as probe or query, routers). "
             "Winner: the higher (ties: off-the-shelf); margin in recall@1.\n"]
    for axis, frame in table.groupby("axis", sort=False):
        families = [c for c in frame.columns if c not in fixed and frame[c].notna().any()]
        unit = "of exact search's FLOPs" if axis == "FLOPs" else "bytes per key"
        parts.append(f"\n## At equal {axis} (budget: {unit})\n\n")
        header = ["dataset", "budget", *families, "best learned (method)", "winner", "margin"]
        parts.append("| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n")
        for _, row in frame.iterrows():
            budget = f"{row['budget']:.0%}" if axis == "FLOPs" else f"{row['budget']:g}"
            cells = [str(row["dataset"]), budget, *[_cell(row[f]) for f in families],
                     f"{_cell(row['best learned'])} ({row['learned method'] or '–'})", str(row["winner"]),
                     _cell(row["margin"])]
            parts.append("| " + " | ".join(cells) + " |\n")
    return "".join(parts)
