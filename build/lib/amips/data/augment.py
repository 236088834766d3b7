"""Noise augmentation of queries and the train/test split."""

from __future__ import annotations

import math

import numpy as np

from amips.data.sets import normalize_rows

MIN_TEST_ROWS = 10  # fewer held-out rows make a match rate a coin toss (one row moves it by ≥ 10 %)
MAX_COPIES = 1000


QUERY_NORMS = ("unit", "source", "raw")


def augment_queries(
    queries: np.ndarray, num_copies: int, noise_std: float, seed: int = 0, query_norms: str = "unit"
) -> tuple[np.ndarray, np.ndarray]:
    """Each query x yields itself plus ``num_copies`` copies x + ε, ε ~ N(0, noise_std² I).

    ``query_norms`` sets the norm of every row: ``unit`` (official: all rows renormalised to 1), ``source`` (each row
    rescaled to the norm of its source query: unit data stays unit, data with varying norms keeps them) or ``raw``
    (x + ε as it is: noise copies of unit queries get norms ≈ √(1 + d·noise_std²), varying).

    Returns:
        (augmented [n·(1+num_copies), d] float32, source [n·(1+num_copies)] int64: the source row of each).
        Rows are grouped by source: row i·(1+c) is the clean copy of query i.
    """
    if isinstance(num_copies, bool) or not isinstance(num_copies, (int, np.integer)) or not 0 <= num_copies <= MAX_COPIES:
        raise ValueError(f"noise_copies must be an integer in [0, {MAX_COPIES}], got {num_copies!r}")
    if not (isinstance(noise_std, (int, float)) and math.isfinite(noise_std) and 0 <= noise_std <= 10):
        raise ValueError(f"noise_std must be >= 0 and <= 10 (finite), got {noise_std!r}")
    if query_norms not in QUERY_NORMS:
        raise ValueError(f"unknown query_norms {query_norms!r}; choose one of {QUERY_NORMS}")
    rng = np.random.default_rng(seed)
    n, d = queries.shape
    reps = 1 + num_copies
    out = np.repeat(np.asarray(queries, np.float32), reps, axis=0)
    noise = rng.standard_normal((n, num_copies, d)).astype(np.float32) * noise_std
    out.reshape(n, reps, d)[:, 1:, :] += noise
    source = np.repeat(np.arange(n, dtype=np.int64), reps)
    if query_norms == "raw":
        return out, source
    unit = normalize_rows(out)
    if query_norms == "unit":
        return unit, source
    norms = np.linalg.norm(np.asarray(queries, np.float32), axis=1, keepdims=True)
    return (unit * norms[source]).astype(np.float32), source


def count_test_rows(test_size: int | float, total: int, min_test_rows: int = MIN_TEST_ROWS) -> int:
    """Test rows that ``test_size`` asks for out of ``total`` rows, checked (see :func:`split_rows`)."""
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float, np.integer, np.floating)):
        raise ValueError(f"test_size must be a fraction in (0, 1) or a row count, got {test_size!r}")
    if isinstance(test_size, (float, np.floating)):
        if not (math.isfinite(test_size) and 0 < test_size < 1):
            raise ValueError(f"test_size={test_size} must be a fraction in (0, 1) or an integer row count")
        target = int(round(float(test_size) * total))
    else:
        target = int(test_size)
    if not min_test_rows <= target < total:
        raise ValueError(f"test_size={test_size} gives {target} test rows of {total}; need at least {min_test_rows} "
                         "test rows and at least one training row")
    return target


def split_rows(source: np.ndarray, test_size: int | float, seed: int = 0, by_source: bool = True,
               min_test_rows: int = MIN_TEST_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """Train/test row indices (each sorted).

    Args:
        source: [N] source-query id of each row (from :func:`augment_queries`).
        test_size: a fraction of the rows (a float in (0, 1)) or a number of test rows (an int); either way the
            split must hold at least ``min_test_rows`` test rows and at least one training row.
        by_source: True (default) puts all copies of a source query on the same side (no sibling leakage);
            False reproduces the official pooled split (rows permuted, first ``test_size`` are test).
    """
    total = source.shape[0]
    target = count_test_rows(test_size, total, min_test_rows)
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
