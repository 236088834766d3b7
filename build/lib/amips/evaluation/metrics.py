"""Evaluation metrics for learned MIPS (official definitions, method.md §5.4), in the exact order of amips.exact.order.

Retrieval with a predicted key ĝ ranks every key by the exact score s(ĝ, k) (:mod:`amips.exact.order`: float64,
fixed summation order, the same on every machine). The rank of the ground truth t counts the keys ahead of it:
with ``rank_ties="index"`` (amips) the keys before t in the exact order — a higher score, or an equal score and a
lower index, the order the labels use, so ranking with the query itself gives rank 0 exactly when t is the
query's label; with ``"strict"`` (official) only the keys scoring strictly higher. ``match_rate`` (= recall@1) is
the fraction with rank 0.

A prediction that is not finite (a NaN or ±Inf in ĝ or in the predicted score, as a diverged or corrupted model
produces) is a miss with the worst possible rank in every metric: comparisons against a NaN threshold are never
true, so without this rule a broken model would score as perfect.
"""

from __future__ import annotations

import math

import numpy as np

from amips.data.arrays import finite_rows
from amips.exact.order import candidate_margins, exact_scores, float32_ceil, float32_floor, max_row_norm

RECALL_AT = (1, 5, 10, 50)
RANK_TIES = ("index", "strict")  # equal exact scores: the lower index is ahead (amips), or not ahead (official)
RECALL_1PCT = ("ceil", "floor")  # keys in "the top 1 %": ⌈0.01·m⌉ (amips) or ⌊0.01·m⌋ (official), at least 1


def target_ranks(pred_keys: np.ndarray, keys: np.ndarray, target_idx: np.ndarray, query_chunk: int = 1024,
                 key_chunk: int = 65536, rank_ties: str = "index") -> np.ndarray:
    """rank_i = #{j ≠ t_i : k_j is ahead of k_{t_i} for ĝ_i} (module docstring); pred_keys [n, d], keys [m, d],
    target_idx [n] → [n] int64.

    Float32 GEMM blocks of query_chunk × key_chunk scores decide every key whose float32 score is farther than the
    error bound e(ĝ) from s(ĝ, k_t) (:mod:`amips.exact.order`); the keys within it are re-scored exactly. A row
    whose predicted key is not finite gets rank m (worse than any real rank).
    """
    if rank_ties not in RANK_TIES:
        raise ValueError(f"rank_ties must be one of {RANK_TIES}, got {rank_ties!r}")
    n, m = pred_keys.shape[0], keys.shape[0]
    key_norm = max_row_norm(keys)
    ranks = np.zeros(n, np.int64)
    for qs in range(0, n, query_chunk):
        p = np.asarray(pred_keys[qs : qs + query_chunk])
        t = np.asarray(target_idx[qs : qs + query_chunk], np.int64)
        finite = np.isfinite(p).all(axis=1)
        p = np.where(finite[:, None], p, 0)
        rows = np.arange(len(p))
        target_score = exact_scores(p, keys, rows, t)
        bound = candidate_margins(p, key_norm) / 2
        above, below = float32_ceil(target_score + bound)[:, None], float32_floor(target_score - bound)[:, None]
        p32 = np.ascontiguousarray(p, np.float32)
        count = np.zeros(len(p), np.int64)
        for ks in range(0, m, key_chunk):
            block = p32 @ np.asarray(keys[ks : ks + key_chunk], np.float32).T
            count += (block > above).sum(axis=1)  # certainly ahead
            near = np.flatnonzero((block >= below) & (block <= above))
            r, c = np.divmod(near, block.shape[1])
            c += ks
            r, c = r[c != t[r]], c[c != t[r]]
            s = exact_scores(p, keys, r, c)
            ahead = (s > target_score[r]) | ((s == target_score[r]) & (c < t[r]) & (rank_ties == "index"))
            count += np.bincount(r[ahead], minlength=len(p))
        count[~finite] = m
        ranks[qs : qs + len(p)] = count
    return ranks


def retrieval_metrics(ranks: np.ndarray, num_keys: int, recall_at_1pct: str = "ceil") -> dict[str, float]:
    """match_rate, mrr, recall@{1,5,10,50} and recall@1% (over ⌈0.01·m⌉ or, ``"floor"``, ⌊0.01·m⌋ keys)."""
    if recall_at_1pct not in RECALL_1PCT:
        raise ValueError(f"recall_at_1pct must be one of {RECALL_1PCT}, got {recall_at_1pct!r}")
    out = {"match_rate": float(np.mean(ranks == 0)), "mrr": float(np.mean(1.0 / (1.0 + ranks)))}
    for k in RECALL_AT:
        out[f"recall@{k}"] = float(np.mean(ranks < k))
    top = math.ceil(0.01 * num_keys) if recall_at_1pct == "ceil" else math.floor(0.01 * num_keys)
    out["recall@1%"] = float(np.mean(ranks < max(1, top)))
    return out


def regression_metrics(queries: np.ndarray, pred_scores: np.ndarray, pred_keys: np.ndarray,
                       target_scores: np.ndarray, target_keys: np.ndarray) -> dict[str, float]:
    """Score/key errors: queries [n, d], pred/target scores [n], keys [n, d].

    ``key_error_rn2`` = ‖ĝ − t‖² / ‖x − t‖² is the key error relative to the identity map ĝ = x (1.0: no better).
    """
    sq = np.sum((pred_keys - target_keys) ** 2, axis=1)
    ident = np.sum((queries - target_keys) ** 2, axis=1)
    safe_ident = np.maximum(ident, 1e-12)
    return {
        "score_error": float(np.mean((pred_scores - target_scores) ** 2)),
        "key_error": float(np.mean(sq) / pred_keys.shape[1]),
        "key_error_rn2": float(np.mean(sq / safe_ident)),
        "log_key_error_rn2": float(np.mean(0.5 * (np.log(np.maximum(sq, 1e-30)) - np.log(safe_ident)))),
        "identity_key_error": float(np.mean(ident) / pred_keys.shape[1]),
        "pred_key_norm": float(np.mean(np.linalg.norm(pred_keys, axis=1))),
    }


def routing_metrics(pred_scores: np.ndarray, target_scores: np.ndarray,
                    true_cluster: np.ndarray | None = None) -> dict[str, float]:
    """Router quality from per-cluster scores [n, C]: accuracy, MRR and acc@k of the true best cluster
    (``true_cluster`` [n], by default the first argmax of ``target_scores``)."""
    true_c = target_scores.argmax(axis=1) if true_cluster is None else true_cluster
    pred_at_true = np.take_along_axis(pred_scores, true_c[:, None], 1)
    rank = (pred_scores > pred_at_true).sum(axis=1)
    rank[~finite_rows(pred_scores)] = pred_scores.shape[1]  # a non-finite score routes nowhere: a miss
    out = {"routing_accuracy": float(np.mean(rank == 0)), "routing_mrr": float(np.mean(1.0 / (1.0 + rank)))}
    for k in range(1, pred_scores.shape[1] + 1):
        out[f"routing_acc@{k}"] = float(np.mean(rank < k))
    return out


def true_cluster_scores(queries: np.ndarray, keys: np.ndarray, target_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact scores [n, C] of each query with its per-cluster targets [n, C], and the true cluster [n]: the one
    holding the query's exact top-1 (highest score, then lowest key index)."""
    n, c = target_idx.shape
    scores = exact_scores(queries, keys, np.repeat(np.arange(n), c), target_idx.reshape(-1)).reshape(n, c)
    best = np.lexsort((target_idx, -scores), axis=1)[:, 0]
    return scores, best


def evaluate_predictions(queries: np.ndarray, keys: np.ndarray, pred_scores: np.ndarray, pred_keys: np.ndarray,
                         target_idx: np.ndarray, rank_ties: str = "index",
                         recall_at_1pct: str = "ceil") -> dict[str, float]:
    """All metrics for predictions scores [n, C], keys [n, C, d] against per-cluster targets [n, C].

    C = 1: plain MIPS. C > 1 (router): route to ĉ = argmax_c ŝ_c, retrieve with ĝ_ĉ, and compare with the global
    top-1 (the target of the cluster with the highest true score); routing metrics are added.
    ``non_finite_predictions`` counts the queries whose predicted scores or keys hold a NaN/Inf; each is a miss.
    ``rank_ties`` (:data:`RANK_TIES`) and ``recall_at_1pct`` (:data:`RECALL_1PCT`) pick the counting conventions.
    """
    if rank_ties not in RANK_TIES:
        raise ValueError(f"rank_ties must be one of {RANK_TIES}, got {rank_ties!r}")
    n = queries.shape[0]
    finite = finite_rows(pred_scores, pred_keys)
    target_keys = keys[target_idx]  # [n, C, d]
    target_scores, true_c = true_cluster_scores(queries, keys, target_idx)
    routed = pred_scores.argmax(axis=1)
    rows = np.arange(n)
    chosen_keys = pred_keys[rows, routed]
    global_target = target_idx[rows, true_c]
    ranks = target_ranks(chosen_keys, keys, global_target, rank_ties=rank_ties)
    ranks[~finite] = keys.shape[0]
    out = retrieval_metrics(ranks, keys.shape[0], recall_at_1pct)
    out.update(regression_metrics(queries, pred_scores[rows, true_c], pred_keys[rows, true_c],
                                  target_scores[rows, true_c], target_keys[rows, true_c]))
    if pred_scores.shape[1] > 1:
        out.update(routing_metrics(pred_scores, target_scores, true_c))
    out["num_test_queries"] = int(n)
    out["non_finite_predictions"] = int(n - finite.sum())
    return out
