"""Key/query sets: synthetic generators and user-supplied embeddings.

By default the generators return unit-norm float32 arrays ``keys [m, d]`` and ``queries [n, d]`` (text embeddings
such as all-MiniLM-L6-v2 are unit-normalised, and the official pipeline normalises queries): then MIPS is cosine
search and every key is an extreme point of the key set's convex hull. ``key_norm_spread`` σ > 0 makes it true
MIPS: key j is scaled by exp(σ·z_j), z_j ~ N(0, 1) (log-normal norms, median 1), so short keys inside the hull
are never the argmax of any query; ``query_norm_spread`` does the same to the queries (the ranking of a query does
not depend on its norm, but the model input does).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from amips.data.io import InputError, load_embeddings

SYNTHETIC_SOURCES = ("gaussian", "structured")


@dataclass(frozen=True)
class KeyQuerySet:
    """keys [m, d] and queries [n, d], float32."""

    keys: np.ndarray
    queries: np.ndarray

    @property
    def dim(self) -> int:
        return int(self.keys.shape[1])


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows divided by their L2 norm (float32); zero rows raise."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if (norms == 0).any():
        raise InputError(f"{int((norms == 0).sum())} row(s) have zero norm and cannot be normalised")
    return (x / norms).astype(np.float32)


def lognormal_norms(rows: np.ndarray, spread: float, seed: int) -> np.ndarray:
    """Each row scaled by exp(spread·z), z ~ N(0, 1) drawn from ``default_rng(seed)``; ``spread`` 0 returns ``rows``.

    For unit rows the norms are log-normal with median 1 and log-std ``spread``. Float32 [N, d].
    """
    if spread < 0:
        raise ValueError(f"norm spread must be >= 0, got {spread}")
    if spread == 0:
        return rows
    scale = np.exp(spread * np.random.default_rng(seed).standard_normal((rows.shape[0], 1)))
    return (rows * scale).astype(np.float32)


def _with_norm_spread(ds: KeyQuerySet, key_spread: float, query_spread: float, seed: int) -> KeyQuerySet:
    """``ds`` with log-normal key/query norms (independent streams, so spread 0 leaves the data bit-identical)."""
    return KeyQuerySet(lognormal_norms(ds.keys, key_spread, seed + 1_000_003),
                       lognormal_norms(ds.queries, query_spread, seed + 2_000_003))


def gaussian_sphere(
    num_keys: int, num_queries: int, dim: int, seed: int = 0, key_norm_spread: float = 0.0,
    query_norm_spread: float = 0.0,
) -> KeyQuerySet:
    """Keys and queries i.i.d. uniform on the unit sphere S^{d−1} (isotropic: a worst case for IVF), then the
    optional log-normal norm spreads (module docstring)."""
    rng = np.random.default_rng(seed)
    keys = normalize_rows(rng.standard_normal((num_keys, dim)))
    queries = normalize_rows(rng.standard_normal((num_queries, dim)))
    return _with_norm_spread(KeyQuerySet(keys, queries), key_norm_spread, query_norm_spread, seed)


def structured_embeddings(
    num_keys: int,
    num_queries: int,
    dim: int,
    num_clusters: int = 32,
    intrinsic_dim: int = 8,
    spectrum_decay: float = 0.7,
    cluster_spread: float = 0.6,
    query_noise: float = 0.35,
    popularity_skew: float = 1.0,
    seed: int = 0,
    key_norm_spread: float = 0.0,
    query_norm_spread: float = 0.0,
) -> KeyQuerySet:
    """Unit vectors that look like text embeddings: a mixture of anisotropic, low-rank clusters.

    Cluster c has a centre μ_c (random unit vector) and an orthonormal basis U_c ∈ R^{d×r}
    (r = ``intrinsic_dim``) with spread σ_j = cluster_spread·decay^j. A key is
    normalize(μ_c + U_c diag(σ) z), z ~ N(0, I_r), with cluster sizes from a Zipf-like law
    (exponent ``popularity_skew``). A query is drawn from the same mixture but with *different* cluster
    popularities (a shifted query distribution) and extra isotropic noise of total norm ≈ ``query_noise``,
    so it lies near, but not on, the key manifold — as generated queries lie near their documents.
    ``key_norm_spread`` / ``query_norm_spread``: log-normal norms (module docstring).
    """
    if num_clusters < 1 or intrinsic_dim < 1:
        raise ValueError("num_clusters and intrinsic_dim must be >= 1")
    rng = np.random.default_rng(seed)
    r = min(intrinsic_dim, dim)
    centres = normalize_rows(rng.standard_normal((num_clusters, dim)))
    bases = np.linalg.qr(rng.standard_normal((num_clusters, dim, r)))[0]  # [C, d, r]
    spreads = cluster_spread * spectrum_decay ** np.arange(r)

    def sample(count: int, weights: np.ndarray, noise: float) -> np.ndarray:
        labels = rng.choice(num_clusters, size=count, p=weights)
        coeffs = rng.standard_normal((count, r)) * spreads
        points = centres[labels] + np.einsum("ndr,nr->nd", bases[labels], coeffs)
        if noise > 0:
            points += rng.standard_normal((count, dim)) * (noise / np.sqrt(dim))
        return normalize_rows(points)

    zipf = 1.0 / np.arange(1, num_clusters + 1) ** popularity_skew
    key_weights = zipf / zipf.sum()
    query_weights = rng.permutation(key_weights)
    keys = sample(num_keys, key_weights, 0.0)
    queries = sample(num_queries, query_weights, query_noise)
    return _with_norm_spread(KeyQuerySet(keys, queries), key_norm_spread, query_norm_spread, seed)


def load_key_query_files(keys_path: str | Path, queries_path: str | Path, queries_name: str = "queries") -> KeyQuerySet:
    """User embeddings from two ``.npy`` files (float32 2-D, finite, same d); queries are unit-normalised.
    ``queries_name`` names the queries in error messages (``"--val-queries"``)."""
    keys = load_embeddings(keys_path, "keys")
    queries = load_embeddings(queries_path, queries_name, dim=keys.shape[1])
    return KeyQuerySet(keys, unit_queries(queries, queries_path, queries_name))


def unit_queries(queries: np.ndarray, path: str | Path, name: str = "queries") -> np.ndarray:
    """Queries [n, d] divided by their norms; a zero-norm row is an ``InputError`` naming ``name``, ``path`` and the
    row."""
    norms = np.linalg.norm(queries, axis=1)
    if (norms == 0).any():
        raise InputError(f"{name} ({path}) has {int((norms == 0).sum())} zero-norm row(s), "
                         f"first at row {int(np.argmax(norms == 0))}")
    return normalize_rows(queries)
