"""Noise augmentation of queries and the train/test split."""

from __future__ import annotations

import numpy as np

from amips.data import normalize_rows


def augment_queries(queries: np.ndarray, num_copies: int, noise_std: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each query x yields itself plus ``num_copies`` copies x + ε, ε ~ N(0, noise_std² I); all renormalised.

    Returns:
        (augmented [n·(1+num_copies), d] float32 unit rows, source [n·(1+num_copies)] int64: the source row of each).
        Rows are grouped by source: row i·(1+c) is the clean copy of query i.
    """
    if num_copies < 0 or noise_std < 0:
        raise ValueError("num_copies and noise_std must be >= 0")
    rng = np.random.default_rng(seed)
    n, d = queries.shape
    reps = 1 + num_copies
    out = np.repeat(np.asarray(queries, np.float32), reps, axis=0)
    noise = rng.standard_normal((n, num_copies, d)).astype(np.float32) * noise_std
    out.reshape(n, reps, d)[:, 1:, :] += noise
    return normalize_rows(out), np.repeat(np.arange(n, dtype=np.int64), reps)


def split_rows(source: np.ndarray, test_size: int | float, seed: int = 0, by_source: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Train/test row indices (each sorted).

    Args:
        source: [N] source-query id of each row (from :func:`augment_queries`).
        test_size: number of test rows (int ≥ 1) or a fraction in (0, 1).
        by_source: True (default) puts all copies of a source query on the same side (no sibling leakage);
            False reproduces the official pooled split (rows permuted, first ``test_size`` are test).
    """
    total = source.shape[0]
    target = int(round(test_size * total)) if isinstance(test_size, float) and test_size < 1 else int(test_size)
    if not 1 <= target < total:
        raise ValueError(f"test_size={test_size} gives {target} test rows of {total}; need 1 ≤ test rows < total")
    rng = np.random.default_rng(seed)
    if not by_source:
        perm = rng.permutation(total)
        return np.sort(perm[target:]), np.sort(perm[:target])
    sources = np.unique(source)
    per_source = total / sources.size
    n_test_sources = max(1, min(sources.size - 1, int(round(target / per_source))))
    test_sources = rng.permutation(sources)[:n_test_sources]
    is_test = np.isin(source, test_sources)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
