"""Exact labels and metric ranks under the BLAS kernel this process runs (set OPENBLAS_CORETYPE before starting it).

Run as a script by tests/exact/test_kernels.py, once per kernel; prints one JSON object: the BLAS libraries and the kernel
(architecture) each uses, and a SHA-256 of every result, so that the parent can check that every kernel gives
bit-identical labels and ranks, equal to the definition computed by brute force.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np


def problems() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(queries, keys) with many exact duplicates (findings §8) and with near-ties below float32 resolution."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal((50, 12)).astype(np.float32)
    dup_keys = base[rng.integers(0, 50, 3000)]  # ~60 exact copies of each of 50 vectors
    dup_queries = np.concatenate([base[:40], rng.standard_normal((88, 12)).astype(np.float32)])
    near = np.repeat(rng.standard_normal((40, 96)).astype(np.float32), 25, axis=0)
    near += (rng.standard_normal(near.shape) * 1e-7).astype(np.float32)
    near_queries = rng.standard_normal((128, 96)).astype(np.float32)
    return {"duplicates": (dup_queries, dup_keys), "near_ties": (near_queries, near)}


def digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def results() -> dict[str, str]:
    """Digest of every exact result: engines × k, per-cluster targets, ranks in both conventions."""
    from amips.exact.labels import exact_topk, per_cluster_top1
    from amips.evaluation.metrics import RANK_TIES, target_ranks

    out = {}
    for name, (queries, keys) in problems().items():
        for backend in ("numpy", "faiss", "torch"):
            for k in (1, 10):
                for key_chunk in (700, 65536):
                    scores, idx = exact_topk(queries, keys, k, query_chunk=64, key_chunk=key_chunk, backend=backend)
                    out[f"{name}/{backend}/k{k}/chunk{key_chunk}"] = digest(scores, idx)
            assignments = np.arange(keys.shape[0]) % 7
            out[f"{name}/{backend}/per_cluster"] = digest(per_cluster_top1(queries, keys, assignments, 7,
                                                                           query_chunk=64, backend=backend))
        predicted = queries + np.float32(0.05) * np.roll(queries, 1, axis=1)
        labels = exact_topk(queries, keys, 1)[1][:, 0]
        for ties in RANK_TIES:
            out[f"{name}/ranks/{ties}"] = digest(target_ranks(predicted, keys, labels, 32, 500, rank_ties=ties))
    return out


def partitions() -> dict[str, str]:
    """Digest of the faiss k-means clustering (router targets) and IVF partition of a small structured set: faiss'
    float32 training, not the exact order, so equal only while no key sits on a near-tie between two centroids."""
    from amips.exact.clustering import kmeans
    from amips.data.sets import structured_embeddings
    from amips.index.ivf import build_ivf

    keys = structured_embeddings(5000, 10, 64, seed=0).keys
    clustering = kmeans(keys, 8, seed=0)
    return {"kmeans": digest(clustering.centroids, clustering.assignments),
            "ivf_lists": digest(build_ivf(keys, None, seed=0).key_list)}


def float32_top1() -> dict[str, str]:
    """Digest of the plain float32 GEMM argmax (the old definition), to show whether this kernel differs."""
    return {name: digest((q @ k.T).argmax(1)) for name, (q, k) in problems().items()}


def blas() -> list[dict[str, str]]:
    import faiss  # noqa: F401  (faiss' own BLAS, if it has one, is listed too)
    from threadpoolctl import threadpool_info

    return [{"api": p.get("internal_api", ""), "architecture": str(p.get("architecture")),
             "library": p.get("filepath", "")} for p in threadpool_info() if p.get("user_api") == "blas"]


if __name__ == "__main__":
    print(json.dumps({"blas": blas(), "results": {**results(), **partitions()}, "float32_top1": float32_top1()}))
