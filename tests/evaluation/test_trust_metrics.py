"""Results you can trust, in the metrics: a non-finite prediction is a miss in every metric (from the cross-cutting
test_trust.py)."""

from __future__ import annotations

import numpy as np
import pytest

from amips.exact.labels import exact_topk
from amips.evaluation.metrics import evaluate_predictions


def test_non_finite_predictions_are_misses_in_every_metric(rng):
    keys = rng.standard_normal((50, 8)).astype(np.float32)
    keys /= np.linalg.norm(keys, axis=1, keepdims=True)  # unit keys: a target key is its own top-1
    queries = rng.standard_normal((20, 8)).astype(np.float32)
    targets = exact_topk(queries, keys, 1)[1]
    perfect = keys[targets[:, 0]][:, None, :].copy()
    scores = np.einsum("ncd,nd->nc", perfect, queries)
    assert evaluate_predictions(queries, keys, scores, perfect, targets)["match_rate"] == 1.0

    all_nan = evaluate_predictions(queries, keys, np.full_like(scores, np.nan), np.full_like(perfect, np.nan), targets)
    assert all_nan["match_rate"] == 0.0 and all_nan["recall@50"] == 0.0 and all_nan["recall@1%"] == 0.0
    assert all_nan["mrr"] == pytest.approx(1 / 51) and all_nan["non_finite_predictions"] == 20

    half = perfect.copy()
    half[::2, 0, 3] = np.inf
    metrics = evaluate_predictions(queries, keys, scores, half, targets)
    assert metrics["match_rate"] == 0.5 and metrics["non_finite_predictions"] == 10
    nan_scores = scores.copy()
    nan_scores[1] = np.nan  # a finite key with a NaN score is a broken prediction too
    assert evaluate_predictions(queries, keys, nan_scores, perfect, targets)["match_rate"] == 0.95
