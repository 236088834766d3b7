"""Metrics: ranks, match rate, MRR, recall, rn2 and routing."""

from __future__ import annotations

import numpy as np

from amips.metrics import evaluate_predictions, retrieval_metrics, routing_metrics, target_ranks


def test_target_ranks_count_strictly_higher_scores(rng):
    keys = rng.standard_normal((97, 6)).astype(np.float32)
    preds = rng.standard_normal((23, 6)).astype(np.float32)
    targets = rng.integers(0, 97, 23)
    ranks = target_ranks(preds, keys, targets, query_chunk=5, key_chunk=11)
    scores = preds @ keys.T
    ref = (scores > scores[np.arange(23), targets][:, None]).sum(1)
    np.testing.assert_array_equal(ranks, ref)


def test_retrieval_metrics_values():
    m = retrieval_metrics(np.array([0, 1, 4, 60]), num_keys=1000)
    assert m["match_rate"] == 0.25 and m["recall@5"] == 0.75 and m["recall@50"] == 0.75
    assert m["recall@1%"] == 0.75  # top 10 keys
    assert np.isclose(m["mrr"], (1 + 1 / 2 + 1 / 5 + 1 / 61) / 4)


def test_perfect_and_identity_predictions(rng):
    keys = rng.standard_normal((50, 5)).astype(np.float32)
    keys /= np.linalg.norm(keys, axis=1, keepdims=True)  # with equal norms the true key retrieves itself
    queries = rng.standard_normal((20, 5)).astype(np.float32)
    target = (queries @ keys.T).argmax(1)[:, None]
    tk = keys[target]
    perfect = evaluate_predictions(queries, keys, np.einsum("ncd,nd->nc", tk, queries), tk, target)
    assert perfect["match_rate"] == 1.0 and perfect["key_error"] == 0.0 and perfect["key_error_rn2"] == 0.0
    ident = evaluate_predictions(queries, keys, np.zeros((20, 1)), queries[:, None, :], target)
    assert ident["match_rate"] == 1.0 and np.isclose(ident["key_error_rn2"], 1.0)


def test_routing_metrics():
    true = np.array([[0.1, 0.9, 0.3], [0.8, 0.2, 0.1]])
    pred = np.array([[0.5, 0.4, 0.1], [0.9, 0.0, 0.1]])
    m = routing_metrics(pred, true)
    assert m["routing_accuracy"] == 0.5 and m["routing_acc@2"] == 1.0 and np.isclose(m["routing_mrr"], 0.75)


def test_router_predictions_use_routed_cluster(rng):
    keys = rng.standard_normal((60, 4)).astype(np.float32)
    queries = rng.standard_normal((10, 4)).astype(np.float32)
    assign = np.arange(60) % 3
    scores = queries @ keys.T
    targets = np.stack([np.where(assign == c, scores, -np.inf).argmax(1) for c in range(3)], 1)
    tk = keys[targets]
    true_scores = np.einsum("ncd,nd->nc", tk, queries)
    out = evaluate_predictions(queries, keys, true_scores, tk, targets)
    assert out["match_rate"] == 1.0 and out["routing_accuracy"] == 1.0
    wrong = evaluate_predictions(queries, keys, -true_scores, tk, targets)
    assert wrong["routing_accuracy"] == 0.0 and wrong["match_rate"] < 1.0
