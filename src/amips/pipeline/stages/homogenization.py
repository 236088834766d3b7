"""The homogenization-ablation stages (rules key_coverage and plot_homogenization, workflow/rules/homogenization.smk):
each dataset's argmax coverage (:func:`amips.evaluation.coverage.key_coverage`) as JSON, and the table of every
wrapper × model × dataset, trained or skipped (:mod:`amips.pipeline.sweeps`), with the datasets' coverage; its figure
is :func:`amips.reporting.homogenization_plot.plot_homogenization`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from amips.data.folders import open_labels
from amips.data.io import atomic_write_json, load_embeddings, read_json
from amips.evaluation.coverage import key_coverage
from amips.models.homogenize import HOMOGENIZATIONS
from amips.pipeline.sweeps import Skip


def dataset_coverage(keys_path: str | Path, labels_dir: str | Path, out_json: str | Path,
                     num_directions: int = 20000, seed: int = 0) -> dict[str, Any]:
    """:func:`key_coverage` of a pipeline dataset (its keys and the train/test labels of task ``mips``) → JSON."""
    keys = load_embeddings(keys_path, "keys")
    labels = open_labels(labels_dir, keys, keys_path)
    targets = np.concatenate([labels.targets(split) for split in ("train", "test")])
    result = key_coverage(keys, targets, num_directions, seed)
    atomic_write_json(out_json, result)
    return result


METRICS = ("match_rate", "mrr", "recall@10", "key_error_rn2", "num_parameters")


COVERAGE = ("num_keys", "key_norm_log_std", "hit_by_queries", "hit_by_directions")


def homogenization_table(summary: pd.DataFrame, skips: Iterable[Skip], coverage: dict[str, dict[str, Any]]
                         ) -> pd.DataFrame:
    """One row per (dataset, model, homogenization, parameters_fraction): ``status`` = ``trained`` with mean/std/n_seeds of
    :data:`METRICS`, or ``skipped: <reason>``; plus each dataset's coverage counts (:mod:`amips.evaluation.coverage`)."""
    mips = summary[summary["task"] == "mips"] if "task" in summary else summary
    columns = ["dataset", "model", "kind", "homogenization", "parameters_fraction"]
    keep = columns + [c for m in METRICS for c in (f"{m}_mean", f"{m}_std") if c in mips] + ["n_seeds"]
    trained = mips[keep].assign(status="trained")
    skipped = pd.DataFrame(
        [{"dataset": s.run["dataset"], "model": s.run["model"], "homogenization": s.run["homogenization"],
          "parameters_fraction": float(s.run["fraction"]), "status": f"skipped: {s.reason}"}
         for s in skips if s.run["task"] == "mips"],
        columns=["dataset", "model", "homogenization", "parameters_fraction", "status"],
    ).drop_duplicates()
    kinds = trained.drop_duplicates("model").set_index("model")["kind"]
    skipped["kind"] = skipped["model"].map(kinds)
    table = pd.concat([trained, skipped], ignore_index=True)
    for field in COVERAGE:
        table[f"dataset_{field}"] = table["dataset"].map({d: c[field] for d, c in coverage.items()})
    order = {name: i for i, name in enumerate(HOMOGENIZATIONS)}
    table["_order"] = table["homogenization"].map(order)
    table = table.sort_values(["dataset", "parameters_fraction", "model", "_order"])
    return table.drop(columns="_order").reset_index(drop=True)


def read_coverage(files: Sequence[str | Path], datasets: Sequence[str]) -> dict[str, dict[str, Any]]:
    """dataset → the JSON written by :func:`dataset_coverage` (files in the order of ``datasets``)."""
    return {name: read_json(path, "key coverage record") for name, path in zip(datasets, files)}
