"""Metrics: ranks, match rate, MRR, recall, rn2 and routing."""

from __future__ import annotations

import numpy as np
import pytest

from amips.exact.order import exact_scores
from amips.exact.labels import exact_topk
from amips.evaluation.metrics import RANK_TIES, evaluate_predictions, retrieval_metrics, routing_metrics, target_ranks


def _exact_rank_reference(preds, keys, targets, rank_ties):
    """Brute force on the definition: exact scores of every pair, keys ahead of the target counted."""
    n, m = len(preds), len(keys)
    scores = exact_scores(preds, keys, np.repeat(np.arange(n), m), np.tile(np.arange(m), n)).reshape(n, m)
    own = scores[np.arange(n), targets][:, None]
    lower = np.arange(m)[None, :] < targets[:, None]
    ahead = (scores > own) | ((scores == own) & lower & (rank_ties == "index"))
    return ahead.sum(1)


@pytest.mark.parametrize("rank_ties", RANK_TIES)
def test_target_ranks_follow_the_exact_order(rng, rank_ties):
    keys = rng.standard_normal((97, 6)).astype(np.float32)
    keys[50:80] = keys[:30]  # exact duplicates: ties ahead of or behind the target by index
    keys[80:97] = keys[:17] + (rng.standard_normal((17, 6)) * 1e-7).astype(np.float32)  # near-ties below float32
    preds = np.concatenate([keys[:10], rng.standard_normal((13, 6)).astype(np.float32)])
    targets = np.concatenate([np.arange(50, 60), rng.integers(0, 97, 13)])
    ranks = target_ranks(preds, keys, targets, query_chunk=5, key_chunk=11, rank_ties=rank_ties)
    np.testing.assert_array_equal(ranks, _exact_rank_reference(preds, keys, targets, rank_ties))


def test_identity_ranks_its_own_label_first_among_duplicates(rng):
    """ĝ = x ranks x's exact label at 0 (the labels' order), even where every key has ~60 exact copies."""
    base = rng.standard_normal((50, 12)).astype(np.float32)
    keys = base[rng.integers(0, 50, 3000)]
    queries = rng.standard_normal((64, 12)).astype(np.float32)
    labels = exact_topk(queries, keys, 1)[1][:, 0]
    assert (target_ranks(queries, keys, labels) == 0).all()
    copies = np.array([np.flatnonzero((keys == keys[t]).all(1))[-1] for t in labels])  # the last copy of each label
    assert (target_ranks(queries, keys, copies) > 0).all()  # index order: the earlier copies are ahead
    assert (target_ranks(queries, keys, copies, rank_ties="strict") == 0).all()


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
