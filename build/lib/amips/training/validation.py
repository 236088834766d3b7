"""The validation split and the evaluations that drive model selection and learning curves.

The validation split is carved from the *training* queries by source query (all noisy copies of a query on one
side), so it never touches the test split and never holds a sibling of a training row. Every ``eval_every`` steps the
EMA model is evaluated on it and on a fixed subset of the training rows (same size, capped), with the same metric
code as the final evaluation: ``val_match_rate``, ``val_mrr``, ``val_key_error_rn2`` and their ``train_`` twins;
with an IVF partition (a retrieval-trained run, :mod:`amips.training.retrieval`) also ``*_list_coverage``, the fraction of rows
whose true key's list is the first list the predicted key probes.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from amips.data.augment import split_rows
import torch

from amips.evaluation.evaluate import predict
from amips.data.io import InputError
from amips.evaluation.metrics import evaluate_predictions
from amips.models.networks import AmipsModel
from amips.training.retrieval import Partition, list_coverage

CURVE_METRICS = ("match_rate", "mrr", "key_error_rn2")
TRAIN_SUBSET = 2048
VAL_SUBSET = 4096  # a larger validation split is evaluated on a fixed random subset of this many rows


def carve_validation(train_rows: np.ndarray, source: np.ndarray, fraction: float, seed: int = 0,
                     by_source: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Split training rows [N_train] into (fit rows, validation rows) by source query: a ``fraction`` of the
    training source queries, with all their noisy copies, becomes the validation split (never the test split).
    ``by_source=False`` draws validation rows at random instead (noisy siblings on both sides, as the official split).

    ``fraction`` 0 (the official protocol: no validation) gives an empty validation split.
    """
    if not (math.isfinite(fraction) and 0 <= fraction < 1):
        raise InputError(f"validation_fraction must be in [0, 1), got {fraction}")
    if fraction == 0:
        return train_rows, train_rows[:0]
    sources = source[train_rows]
    if np.unique(sources).size < 2:
        raise InputError("validation_fraction > 0 needs at least 2 distinct training queries")
    fit, val = split_rows(sources, fraction, seed, by_source=by_source, min_test_rows=1)
    return train_rows[fit], train_rows[val]


def capped_rows(num_rows: int, cap: int, seed: int) -> np.ndarray:
    """Sorted indices of a fixed random subset of ``cap`` of ``num_rows`` rows (all rows when there are no more)."""
    if num_rows <= cap:
        return np.arange(num_rows)
    return np.sort(np.random.default_rng(seed).permutation(num_rows)[:cap])


def selection_eval_fn(keys: np.ndarray, val_queries: np.ndarray, val_targets: np.ndarray, train_queries: np.ndarray,
                      train_targets: np.ndarray, batch_size: int = 1024, device: str = "cpu",
                      seed: int = 0, partition: Partition | None = None) -> Callable[[AmipsModel], dict[str, float]] | None:
    """An evaluation of a model on validation rows [n_v, d] / targets [n_v, C] and on a fixed random subset of the
    training rows (at most max(n_v, 1) and TRAIN_SUBSET rows), over keys [m, d]; None without validation rows.
    With ``partition``, also the list coverage at one probe (``val_list_coverage``, ``train_list_coverage``).
    A validation split above VAL_SUBSET rows (e.g. of a million-query set) is evaluated on a fixed random subset of
    VAL_SUBSET rows, so that an evaluation costs the same whatever the split's size."""
    if val_queries.shape[0] == 0:
        return None
    keep = capped_rows(val_queries.shape[0], VAL_SUBSET, seed + 1)
    val_queries, val_targets = val_queries[keep], val_targets[keep]
    size = min(train_queries.shape[0], max(val_queries.shape[0], 1), TRAIN_SUBSET)
    rows = capped_rows(train_queries.shape[0], size, seed)
    splits = (("val", val_queries, val_targets), ("train", train_queries[rows], train_targets[rows]))
    if partition is not None:  # the true key's list of every evaluated row, fixed for the run
        key_list, centroids = partition.key_list.cpu(), partition.centroids.cpu()
        true_lists = {prefix: key_list[torch.from_numpy(targets[:, 0])] for prefix, _, targets in splits}

    def evaluate(model: AmipsModel) -> dict[str, float]:
        out: dict[str, float] = {}
        for prefix, queries, targets in splits:
            pred_scores, pred_keys = predict(model, queries, batch_size, device)
            metrics = evaluate_predictions(queries, keys, pred_scores, pred_keys, targets)
            out.update({f"{prefix}_{name}": float(metrics[name]) for name in CURVE_METRICS})
            if partition is not None:
                out[f"{prefix}_list_coverage"] = list_coverage(torch.from_numpy(pred_keys[:, 0]), true_lists[prefix],
                                                               centroids)
        return out

    return evaluate
