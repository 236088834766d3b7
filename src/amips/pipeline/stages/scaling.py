"""File-level stages of the data-scaling experiment (:mod:`amips.experiments.scaling`), used by the Snakemake scripts:
one trained model or the refitted controls at one number of training queries, and the table + figure over all."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from amips.experiments.scaling import coverage_rows, nested_subset, point_record, summarize
from amips.reporting.budgets import Budgets
from amips.data.folders import open_labels
from amips.data.io import InputError, atomic_write_json, load_embeddings

log = logging.getLogger("amips.pipeline.stages.scaling")
CONTROL_VAL_ROWS = 16384  # validation rows the refitted controls are tuned on, at most (a fixed random subset)


@dataclass(frozen=True)
class ScalingSplits:
    """Keys [m, d]; the training rows of the first n training source queries; the validation and test splits."""

    keys: np.ndarray
    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]


def load_scaling_splits(keys_path: str | Path, labels_dir: Path, n: int, subset_seed: int) -> ScalingSplits:
    """Keys and the labels' splits, the training split cut to its first ``n`` source queries (:func:`nested_subset`)."""
    keys = load_embeddings(keys_path, "keys")
    labels = open_labels(labels_dir, keys, keys_path)
    train_q, train_t = labels.split("train")
    rows = nested_subset(labels.source("train", train_q.shape[0]), n, subset_seed)
    return ScalingSplits(keys, (train_q[rows], train_t[rows]), labels.split("val"), labels.split("test"))


def scaling_model_point(keys_path: str | Path, labels_dir: str | Path, index_path: str | Path, out_json: str | Path,
                        workdir: str | Path, fields: dict[str, Any], model_cfg: dict[str, Any],
                        training: dict[str, Any], n: int, seed: int, nprobes: Sequence[int],
                        budgets: Budgets, subset_seed: int = 0, device: str = "cpu",
                        threads: int = 1, batch_size: int = 1024) -> dict[str, Any]:
    """Train ``model_cfg`` on the first ``n`` training source queries and evaluate it on the test split.

    Selection (``training.select``) uses the labels' validation split; a retrieval term trains on the index's
    partition. Writes one JSON record (:func:`amips.experiments.scaling.point_record` plus the run's train info)."""
    import faiss

    from amips.evaluation.evaluate import predict
    from amips.exact.flops import exact_search_flops, query_flops
    from amips.index.ivf import load_ivf
    from amips.evaluation.metrics import evaluate_predictions
    from amips.models import ModelSpec
    from amips.core.runinfo import configure_torch
    from amips.models.factory import load_checked_model
    from amips.training.retrieval import uses_retrieval
    from amips.training.runs import load_partition, train_arrays
    from amips.training.train import TrainSpec
    from amips.training.validation import selection_eval_fn

    configure_torch(threads, device)
    faiss.omp_set_num_threads(max(1, threads))
    workdir = Path(workdir)
    splits = load_scaling_splits(keys_path, Path(labels_dir), n, subset_seed)
    keys, (train_q, train_t), (val_q, val_t), (test_q, test_t) = splits.keys, splits.train, splits.val, splits.test
    spec, train_spec = ModelSpec.from_dict(model_cfg), TrainSpec.from_dict(training)
    partition = load_partition(index_path, keys) if uses_retrieval(train_spec.retrieval) else None
    eval_fn = selection_eval_fn(keys, val_q, val_t, train_q, train_t, batch_size, device, seed, partition=partition)
    log.info("data scaling: %s on %d training source queries (%d rows)", fields.get("model"), n, train_q.shape[0])
    info, _ = train_arrays(keys, train_q, train_t, workdir / "model.pt", workdir / "checkpoint.pt", spec, train_spec,
                           seed, device, threads, eval_fn=eval_fn, partition=partition, on_stale="restart",
                           fingerprint_extra={"n_queries": n, "subset_seed": subset_seed})
    model, _ = load_checked_model(workdir / "model.pt", keys)
    scores, pred_keys = predict(model, test_q, batch_size, device)
    metrics = evaluate_predictions(test_q, keys, scores, pred_keys, test_t)
    network_flops = float(query_flops(model))
    rows = coverage_rows(load_ivf(index_path), pred_keys[:, 0], test_t[:, 0], nprobes, network_flops)
    record = point_record({**fields, "n_queries": n, "train_rows": int(train_q.shape[0]), "seed": seed,
                           "num_parameters": info["num_parameters"], "network_flops": network_flops,
                           "selected_step": info.get("selected_step"), "train_seconds": info["train_seconds"]},
                          metrics, rows, exact_search_flops(*keys.shape), budgets)
    atomic_write_json(out_json, {"record": record, "coverage": rows})
    (workdir / "checkpoint.pt").unlink(missing_ok=True)
    return record


def scaling_controls_point(keys_path: str | Path, labels_dir: str | Path, index_path: str | Path,
                           out_json: str | Path, dataset: str, names: Sequence[str], n: int, nprobes: Sequence[int],
                           cfg: dict[str, Any], budgets: Budgets,
                           subset_seed: int = 0) -> list[dict[str, Any]]:
    """Refit each control of ``names`` (:mod:`amips.evaluation.controls`) on the first ``n`` training source queries (tuned on
    the labels' validation split) and evaluate it as :func:`scaling_model_point` evaluates a model."""
    from amips.evaluation.controls import ControlData, control_options, control_predictions, fit_control
    from amips.exact.flops import exact_search_flops
    from amips.index.ivf import load_ivf
    from amips.evaluation.metrics import evaluate_predictions
    from amips.training.validation import capped_rows

    splits = load_scaling_splits(keys_path, Path(labels_dir), n, subset_seed)
    keys, (train_q, train_t), (val_q, val_t), (test_q, test_t) = splits.keys, splits.train, splits.val, splits.test
    if val_q.shape[0] == 0:
        raise InputError("data scaling needs the labels' validation split (labels.validation_fraction > 0)")
    keep = capped_rows(val_q.shape[0], CONTROL_VAL_ROWS, subset_seed)  # a 10⁶-query set: a bounded tuning cost
    val_q, val_t = val_q[keep], val_t[keep]
    data = ControlData(keys, train_q, keys[train_t[:, 0]], val_q, keys[val_t[:, 0]], val_t[:, 0])
    ivf = load_ivf(index_path)
    records, curves = [], {}
    for name in names:
        control = fit_control(name, data, control_options(cfg))
        scores, pred_keys = control_predictions(control, test_q)
        metrics = evaluate_predictions(test_q, keys, scores, pred_keys, test_t)
        flops = 2.0 * control.num_parameters
        rows = coverage_rows(ivf, pred_keys[:, 0], test_t[:, 0], nprobes, flops)
        records.append(point_record({"dataset": dataset, "model": f"control: {name}", "kind": "control",
                                     "n_queries": n, "train_rows": int(train_q.shape[0]), "seed": 0,
                                     "num_parameters": control.num_parameters, "network_flops": flops},
                                    metrics, rows, exact_search_flops(*keys.shape), budgets))
        curves[name] = rows
    atomic_write_json(out_json, {"records": records, "coverage": curves})
    return records


def scaling_table(point_files: Sequence[str | Path], baseline_files: dict[str, str | Path], out_csv: str | Path,
                  out_points_csv: str | Path, out_md: str | Path, figure: str | Path,
                  budgets: Budgets) -> pd.DataFrame:
    """Collect the points, add plain IVF (the natural query, dataset → ``ivf/baselines.csv``) as a row at every n,
    and write the per-run CSV, the mean ± std CSV and Markdown, and the figure."""
    from amips.reporting.experiment_plots import plot_data_scaling
    from amips.data.io import atomic_write_text, read_json
    from amips.reporting.tables import write_csv

    records = []
    for path in point_files:
        payload = read_json(path, "data-scaling point")
        records += payload.get("records", [payload["record"]] if "record" in payload else [])
    points = pd.DataFrame(records)
    natural = []
    for dataset, path in baseline_files.items():
        curve = pd.read_csv(path)
        exact = curve[curve["method"] == "exact"]["flops"].iloc[0]
        ivf = curve[curve["method"] == "ivf natural"]
        rows = ivf[["nprobe", "routing_coverage", "flops"]].to_dict("records")
        identity = {"match_rate": 1.0, "mrr": 1.0, "key_error_rn2": 1.0}  # x is its own best key direction
        for n in sorted(points.loc[points["dataset"] == dataset, "n_queries"].unique()):
            natural.append(point_record({"dataset": dataset, "model": "plain IVF (query x)", "kind": "baseline",
                                         "n_queries": n, "seed": 0}, identity, rows, exact, budgets))
    points = pd.concat([points, pd.DataFrame(natural)], ignore_index=True)
    coverage_cols = sorted([c for c in points.columns if c.startswith("coverage@")], key=lambda c: int(c.split("@")[1]))
    keep = [c for c in points.columns if not c.startswith("coverage@")] + coverage_cols
    points = points[keep]
    write_csv(points, out_points_csv)
    summary = summarize(points)
    write_csv(summary, out_csv)
    atomic_write_text(out_md, scaling_markdown(summary, budgets))
    plot_data_scaling(summary, figure, budgets.values)
    return summary


def scaling_markdown(summary: pd.DataFrame, budgets: Budgets) -> str:
    """One table per dataset: model × n with match rate, rn2, coverage@1/@8 and recall@1 within each budget."""
    def cell(row: pd.Series, col: str) -> str:
        mean, std = row.get(f"{col}_mean", np.nan), row.get(f"{col}_std", np.nan)
        if pd.isna(mean):
            return "–"
        return f"{mean:.3f}" + (f" ± {std:.3f}" if row.get("seeds", 1) > 1 and not pd.isna(std) else "")

    cols = ["match_rate", "key_error_rn2", "coverage@1", "coverage@8", *[f"recall@1_at_{b:g}" for b in budgets.values]]
    heads = ["match rate", "rn2", "coverage@1", "coverage@8", *[f"recall@1 ≤ {b:g}·exact FLOPs" for b in budgets.values]]
    lines = ["# Data scaling: distinct training queries vs what the model reaches (test split)\n"]
    for dataset, table in summary.groupby("dataset", sort=True):
        lines.append(f"\n## {dataset}\n\n| model | n queries | seeds | " + " | ".join(heads) + " |\n")
        lines.append("|---|---|---|" + "---|" * len(heads) + "\n")
        for _, row in table.sort_values(["model", "n_queries"]).iterrows():
            lines.append(f"| {row['model']} | {int(row['n_queries'])} | {int(row['seeds'])} | "
                         + " | ".join(cell(row, c) for c in cols) + " |\n")
    return "".join(lines)
