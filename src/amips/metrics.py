"""Evaluation metrics for learned MIPS (official definitions, method.md §5.4).

Retrieval with a predicted key ĝ scores every key by ⟨ĝ, k⟩. The rank of the ground truth t is the number of
keys scoring *strictly* higher than t; ``match_rate`` (= recall@1) is the fraction with rank 0.

A prediction that is not finite (a NaN or ±Inf in ĝ or in the predicted score, as a diverged or corrupted model
produces) is a miss with the worst possible rank in every metric: comparisons against a NaN threshold are never
true, so without this rule a broken model would score as perfect.
"""

from __future__ import annotations

import math

import numpy as np

RECALL_AT = (1, 5, 10, 50)
RANK_TIES = {"tolerance": 1e-6, "strict": 0.0}  # relative tie tolerance of each convention (strict = official)
RECALL_1PCT = ("ceil", "floor")  # keys in "the top 1 %": ⌈0.01·m⌉ (amips) or ⌊0.01·m⌋ (official), at least 1


def target_ranks(pred_keys: np.ndarray, keys: np.ndarray, target_idx: np.ndarray, query_chunk: int = 1024,
                 key_chunk: int = 65536, rel_tol: float = 1e-6) -> np.ndarray:
    """rank_i = #{j ≠ t_i : ⟨ĝ_i, k_j⟩ > ⟨ĝ_i, k_{t_i}⟩ + tol_i}; pred_keys [n, d], keys [m, d], target_idx [n] → [n].

    tol_i = rel_tol·(|⟨ĝ_i, k_{t_i}⟩| + ‖ĝ_i‖) absorbs float32 rounding differences between BLAS kernels, so
    exact duplicates of the target never count as "higher". Computed in blocks of query_chunk × key_chunk scores.
    A row whose predicted key (or its score with the target) is not finite gets rank m (worse than any real rank).
    """
    n, m = pred_keys.shape[0], keys.shape[0]
    ranks = np.zeros(n, np.int64)
    for qs in range(0, n, query_chunk):
        p = np.asarray(pred_keys[qs : qs + query_chunk], np.float32)
        t = np.asarray(target_idx[qs : qs + query_chunk])
        with np.errstate(invalid="ignore", over="ignore"):  # non-finite rows are marked broken below
            gt = np.einsum("nd,nd->n", p.astype(np.float64), np.asarray(keys[t], np.float64))
            threshold = (gt + rel_tol * (np.abs(gt) + np.linalg.norm(p, axis=1)))[:, None]
        rows = np.arange(len(p))
        for ks in range(0, m, key_chunk):
            block = p @ np.asarray(keys[ks : ks + key_chunk], np.float32).T
            inside = (t >= ks) & (t < ks + block.shape[1])
            block[rows[inside], t[inside] - ks] = -np.inf  # never count the target itself
            ranks[qs : qs + len(p)] += (block > threshold).sum(axis=1)
        broken = ~(np.isfinite(p).all(axis=1) & np.isfinite(threshold[:, 0]))
        ranks[qs : qs + len(p)][broken] = m
    return ranks


def finite_rows(*arrays: np.ndarray) -> np.ndarray:
    """[n] bool: True where every entry of row i of every array ([n, ...]) is finite."""
    ok = np.ones(arrays[0].shape[0], bool)
    for a in arrays:
        ok &= np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)
    return ok


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


def routing_metrics(pred_scores: np.ndarray, target_scores: np.ndarray) -> dict[str, float]:
    """Router quality from per-cluster scores [n, C]: accuracy, MRR and acc@k of the true best cluster."""
    true_c = target_scores.argmax(axis=1)
    pred_at_true = np.take_along_axis(pred_scores, true_c[:, None], 1)
    rank = (pred_scores > pred_at_true).sum(axis=1)
    rank[~finite_rows(pred_scores)] = pred_scores.shape[1]  # a non-finite score routes nowhere: a miss
    out = {"routing_accuracy": float(np.mean(rank == 0)), "routing_mrr": float(np.mean(1.0 / (1.0 + rank)))}
    for k in range(1, pred_scores.shape[1] + 1):
        out[f"routing_acc@{k}"] = float(np.mean(rank < k))
    return out


def evaluate_predictions(queries: np.ndarray, keys: np.ndarray, pred_scores: np.ndarray, pred_keys: np.ndarray,
                         target_idx: np.ndarray, rank_ties: str = "tolerance",
                         recall_at_1pct: str = "ceil") -> dict[str, float]:
    """All metrics for predictions scores [n, C], keys [n, C, d] against per-cluster targets [n, C].

    C = 1: plain MIPS. C > 1 (router): route to ĉ = argmax_c ŝ_c, retrieve with ĝ_ĉ, and compare with the global
    top-1 (the target of the cluster with the highest true score); routing metrics are added.
    ``non_finite_predictions`` counts the queries whose predicted scores or keys hold a NaN/Inf; each is a miss.
    ``rank_ties`` (:data:`RANK_TIES`) and ``recall_at_1pct`` (:data:`RECALL_1PCT`) pick the counting conventions.
    """
    if rank_ties not in RANK_TIES:
        raise ValueError(f"rank_ties must be one of {sorted(RANK_TIES)}, got {rank_ties!r}")
    n = queries.shape[0]
    finite = finite_rows(pred_scores, pred_keys)
    target_keys = keys[target_idx]  # [n, C, d]
    target_scores = np.einsum("ncd,nd->nc", target_keys, queries)
    true_c = target_scores.argmax(axis=1)
    routed = pred_scores.argmax(axis=1)
    rows = np.arange(n)
    chosen_keys = pred_keys[rows, routed]
    global_target = target_idx[rows, true_c]
    ranks = target_ranks(chosen_keys, keys, global_target, rel_tol=RANK_TIES[rank_ties])
    ranks[~finite] = keys.shape[0]
    out = retrieval_metrics(ranks, keys.shape[0], recall_at_1pct)
    out.update(regression_metrics(queries, pred_scores[rows, true_c], pred_keys[rows, true_c],
                                  target_scores[rows, true_c], target_keys[rows, true_c]))
    if pred_scores.shape[1] > 1:
        out.update(routing_metrics(pred_scores, target_scores))
    out["num_test_queries"] = int(n)
    out["non_finite_predictions"] = int(n - finite.sum())
    return out
