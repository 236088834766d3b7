"""k-means on keys (faiss), used for router targets and IVF coarse quantisers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Clustering:
    """centroids [C, d] float32 and assignments [m] int64 (cluster of each key)."""

    centroids: np.ndarray
    assignments: np.ndarray


def kmeans(keys: np.ndarray, num_clusters: int, seed: int = 0, niter: int = 50, nredo: int = 3) -> Clustering:
    """Squared-Euclidean k-means (k-means++-like faiss init, ``nredo`` restarts). C = 1 → the mean key."""
    keys = np.ascontiguousarray(keys, dtype=np.float32)
    if num_clusters == 1:
        return Clustering(keys.mean(0, keepdims=True), np.zeros(keys.shape[0], np.int64))
    if num_clusters > keys.shape[0]:
        raise ValueError(f"num_clusters={num_clusters} exceeds the number of keys {keys.shape[0]}")
    import faiss

    km = faiss.Kmeans(keys.shape[1], num_clusters, niter=niter, nredo=nredo, seed=seed, verbose=False,
                      max_points_per_centroid=100000)
    km.train(keys)
    _, assign = km.index.search(keys, 1)
    return Clustering(km.centroids.astype(np.float32), assign[:, 0].astype(np.int64))
