"""Shared fixtures: a tiny structured MIPS problem and deterministic torch settings.

The tests live in one folder per wing (``tests/<wing>/``, plus ``cli/``, ``workflow/``, ``docs/``, ``benchmarks/``);
the helper modules they import as top-level modules (``clitools``, ``docblocks``, ``kernel_probe``) stay here, in
``tests/``, which is put on ``sys.path`` first.
"""

from __future__ import annotations

import sys
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from amips.data.augment import augment_queries, split_rows  # noqa: E402
from amips.data.sets import structured_embeddings  # noqa: E402
from amips.exact.labels import exact_topk  # noqa: E402


@pytest.fixture(autouse=True)
def _torch_threads():
    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="session")
def tiny_problem():
    """m = 600 keys, d = 16; 300 queries × (1 + 2 noisy copies); exact top-1 targets; split by source."""
    ds = structured_embeddings(600, 300, 16, num_clusters=8, intrinsic_dim=4, seed=3)
    queries, source = augment_queries(ds.queries, 2, 0.02, seed=0)
    _, idx = exact_topk(queries, ds.keys, 1)
    train_rows, test_rows = split_rows(source, 0.25, seed=0)
    return {
        "keys": ds.keys, "queries": queries, "targets": idx, "source": source,
        "train": train_rows, "test": test_rows,
    }


def unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
