"""The evaluation stage (rule evaluate, workflow/rules/evaluate.smk): a saved model on the test split."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from amips.evaluation.evaluate import evaluate_model
from amips.data.folders import open_labels
from amips.data.io import atomic_write_json, load_embeddings
from amips.data.locks import exclusive_lock
from amips.models.factory import check_model_outputs, load_checked_model
from amips.core.runinfo import configure_torch


def evaluate_run(
    model_path: str | Path,
    keys_path: str | Path,
    labels_dir: str | Path,
    out_path: str | Path | None,
    run: dict[str, Any] | None = None,
    device: str = "cpu",
    threads: int = 1,
    batch_size: int = 1024,
    allow_other_keys: bool = False,
    conventions: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Evaluate a saved model on the test split; returns (and writes to ``out_path`` unless None) the record
    run fields + train info + metrics. A model trained on other keys is refused unless ``allow_other_keys``;
    ``conventions`` (``rank_ties``, ``recall_at_1pct``, see :func:`amips.evaluation.metrics.evaluate_predictions`) are recorded
    with the metrics. The labels folder must have been made from these keys; the lock on ``out_path`` is held
    throughout."""
    with exclusive_lock(out_path, "evaluation") if out_path is not None else contextlib.nullcontext():
        configure_torch(threads, device)
        keys = load_embeddings(keys_path, "keys")
        test_q, test_t = open_labels(labels_dir, keys, keys_path).split("test")
        model, payload = load_checked_model(model_path, keys, allow_other_keys)
        check_model_outputs(model, test_t.shape[1], model_path, labels_dir)
        t0 = time.perf_counter()
        conventions = {"rank_ties": "index", "recall_at_1pct": "ceil", **(conventions or {})}
        metrics = evaluate_model(model, keys, test_q, test_t, batch_size, device, **conventions)
        record = {**conventions, **(run or {}), **payload.get("train_info", {}), **metrics,
                  "eval_seconds": time.perf_counter() - t0}
        if out_path is not None:
            atomic_write_json(out_path, record)
    return record
