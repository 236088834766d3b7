"""The controls stages (rules controls and ivf_controls, workflow/rules/controls.smk): the controls of
:mod:`amips.evaluation.controls` fitted on a labels folder's training rows and evaluated on its test split, as metrics
records and as IVF queries."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from amips.core.schema import section
from amips.data.folders import open_labels
from amips.data.io import InputError, atomic_write_json, load_embeddings
from amips.evaluation.controls import (ControlData, FittedControl, control_data, control_options, control_predictions,
                                       control_record, fit_control)
from amips.evaluation.metrics import evaluate_predictions


@dataclass(frozen=True)
class ControlSplits:
    """The fitted-on data and the test split of one labels directory (plain MIPS: the top-1 target)."""

    data: ControlData
    test_queries: np.ndarray
    test_target_idx: np.ndarray  # [n, 1]


def load_control_splits(keys_path: str | Path, labels_dir: str | Path, cfg: dict[str, Any]) -> ControlSplits:
    """Keys and a labels dir (``{train,val,test}_{queries,targets}.npy``, ``train_source.npy``) → fit/val/test.

    When the labels hold a validation split (``labels.validation_fraction`` > 0), the controls are fitted on the
    training rows and tuned on that split — the same rows the learned models are trained and selected on. Otherwise
    a validation split is carved from the training rows: ``cfg`` (the ``experiments.controls`` section)
    validation_fraction and seed.
    """
    cfg = section("experiments.controls", cfg, validate=False)
    keys = load_embeddings(keys_path, "keys")
    labels = open_labels(labels_dir, keys, keys_path)
    arrays = {}
    for split in ("train", "test"):
        queries, targets = labels.split(split)
        if targets.shape[1] != 1:
            raise InputError(f"controls need plain-MIPS labels (one target per row), got {targets.shape[1]} per row")
        arrays[split] = (queries, targets)
    source = labels.source("train", arrays["train"][0].shape[0])
    if labels.has("val"):
        val_q, val_t = labels.split("val")
        val_t = val_t[:, 0]
        train_q, train_t = arrays["train"][0], arrays["train"][1][:, 0]
        data = ControlData(keys, train_q, keys[train_t], val_q, keys[val_t], val_t)
    else:
        data = control_data(keys, arrays["train"][0], arrays["train"][1][:, 0], source,
                            float(cfg["validation_fraction"]), int(cfg["seed"]))
    return ControlSplits(data, *arrays["test"])


def evaluate_controls(keys_path: str | Path, labels_dir: str | Path, out_paths: dict[str, str | Path],
                      cfg: dict[str, Any], dataset: str = "") -> list[dict[str, Any]]:
    """Fit each control named in ``out_paths`` (name → metrics.json path) and evaluate it on the test split with
    the models' metric code (:func:`amips.evaluation.metrics.evaluate_predictions`); writes and returns one record each."""
    cfg = section("experiments.controls", cfg, validate=False)
    splits = load_control_splits(keys_path, labels_dir, cfg)
    options = control_options(cfg)
    records = []
    for name, path in out_paths.items():
        control = fit_control(name, splits.data, options)
        scores, pred_keys = control_predictions(control, splits.test_queries)
        metrics = evaluate_predictions(splits.test_queries, splits.data.keys, scores, pred_keys, splits.test_target_idx)
        record = control_record(control, metrics, dataset, int(splits.data.keys.shape[1]), int(cfg["seed"]))
        atomic_write_json(path, record)
        records.append(record)
    return records


def _seconds_per_query(control: FittedControl, queries: np.ndarray) -> float:
    """Measured wall-clock per query of g (after one warm-up call)."""
    control.predict(queries[: min(len(queries), 256)])
    t0 = time.perf_counter()
    control.predict(queries)
    return (time.perf_counter() - t0) / max(1, len(queries))


def ivf_controls(keys_path: str | Path, labels_dir: str | Path, out_csv: str | Path, names: list[str],
                 cfg: dict[str, Any], ivf_cfg: dict[str, Any], dataset: str = "", threads: int = 1,
                 index_path: str | Path | None = None) -> list[dict[str, Any]]:
    """IVF sweep with each control's predicted key g(x) as the IVF query (as :func:`amips.pipeline.stages.ivf.ivf_projected`
    does with a model's key); the cost of g (2·d² FLOPs per linear map, measured wall-clock) is added.

    ``index_path``: the dataset's saved index (same lists as the natural query); built afresh if None.
    """
    import faiss
    import pandas as pd

    from amips.index.ivf import build_ivf, load_ivf, nprobe_grid
    from amips.index.sweeps import ivf_sweep
    from amips.index.timing import sweep_timing
    from amips.reporting.tables import write_csv

    faiss.omp_set_num_threads(max(1, threads))
    ivf_cfg = section("experiments.ivf", ivf_cfg, validate=False)
    splits = load_control_splits(keys_path, labels_dir, cfg)
    keys, options = splits.data.keys, control_options(cfg)
    ivf = load_ivf(index_path) if index_path else build_ivf(keys, ivf_cfg.get("nlist"), seed=int(ivf_cfg["seed"]))
    rows = []
    for name in names:
        control = fit_control(name, splits.data, options)
        flops = 2.0 * control.num_parameters  # a multiply-add per weight; identity and c·x: ~0
        seconds = _seconds_per_query(control, splits.test_queries)
        for r in ivf_sweep(ivf, control.predict(splits.test_queries), splits.test_target_idx[:, 0],
                           nprobe_grid(ivf.nlist, ivf_cfg.get("nprobes")), list(ivf_cfg["k_values"]),
                           extra_flops=flops, extra_seconds=seconds, **sweep_timing(ivf_cfg)):
            rows.append({"dataset": dataset, "model": f"control: {name}", "kind": "control",
                         "method": f"ivf control: {name}", "network_flops": flops, "network_seconds": seconds, **r})
    if not rows:
        raise InputError("ivf_controls needs at least one control name")
    write_csv(pd.DataFrame(rows), out_csv)
    return rows
