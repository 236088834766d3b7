"""Cluster routing: send a query to its top-r clusters and scan them exactly.

A learned router is a multi-output model whose output c predicts the best score inside k-means cluster c,
ŝ_c(x) ≈ max_{k ∈ cluster c} ⟨x, k⟩; the standard IVF coarse step ranks clusters by the centroid score ⟨x, μ_c⟩.
Scanning the top-r clusters exactly finds the global top-1 iff its cluster is among them, so the match rate
at r is the routing accuracy@r, and the cost is the scanned keys (plus the router network or the centroids).
"""

from __future__ import annotations

import numpy as np


def routing_curve(route_scores: np.ndarray, true_cluster_scores: np.ndarray, cluster_sizes: np.ndarray,
                  dim: int, router_flops: float) -> list[dict[str, float]]:
    """Match rate and cost when scanning the top-r clusters, r = 1..C.

    Args:
        route_scores: [n, C] scores used to rank clusters (model outputs or centroid scores).
        true_cluster_scores: [n, C] exact best score inside each cluster (from per-cluster top-1 labels).
        cluster_sizes: [C] keys per cluster.
        dim: d, for FLOPs of the scan.
        router_flops: per-query cost of computing ``route_scores``.
    Returns rows with r, match_rate, fraction_scanned (of all keys), flops per query. A query whose route scores
    hold a NaN/Inf (a diverged router) never finds its cluster: a miss at every r.
    """
    from amips.data.arrays import finite_rows

    n, num_clusters = route_scores.shape
    order = np.argsort(-route_scores, axis=1, kind="stable")
    true_best = true_cluster_scores.argmax(axis=1)
    position = np.argmax(order == true_best[:, None], axis=1)  # rank of the true cluster in the routing order
    position[~finite_rows(route_scores)] = num_clusters
    scanned = np.cumsum(cluster_sizes[order], axis=1)  # [n, C] keys scanned after r clusters
    total = cluster_sizes.sum()
    rows = []
    for r in range(1, num_clusters + 1):
        keys_scanned = scanned[:, r - 1].mean()
        rows.append({"clusters_probed": r, "match_rate": float(np.mean(position < r)),
                     "fraction_scanned": float(keys_scanned / total),
                     "flops": float(router_flops + 2 * dim * keys_scanned)})
    return rows


def centroid_scores(queries: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """IVF coarse step: ⟨x, μ_c⟩ for queries [n, d], centroids [C, d] → [n, C]."""
    return np.asarray(queries, np.float32) @ np.asarray(centroids, np.float32).T
