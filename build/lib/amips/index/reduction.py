"""The MIPS-to-L2 reduction: an L2 index (HNSW or IVF-Flat) over augmented keys, searched with augmented queries —
the standard anchor on data whose norms vary.

Keys [m, d] become [k, √(M² − ‖k‖²)] [m, d + 1] (M = max ‖k‖, :func:`mips_to_l2`), a query q becomes [q, 0]
(:func:`augment_queries`): then ‖q‖² + M² − 2⟨q, k⟩ is the squared L2 distance of the query to every augmented key,
so the L2 nearest augmented key is the MIPS argmax. Costs and memory are the inner index's in dimension d' = d + 1;
every distance an IVF-Flat scans is exact, so all lists give the exact MIPS top-k.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from amips.data.io import InputError
from amips.index.base import Found, Index, f32
from amips.index.hnsw import HnswIndex
from amips.index.ivf import IvfFlatIndex


def mips_to_l2(keys: np.ndarray) -> tuple[np.ndarray, float]:
    """The MIPS-to-L2 reduction: keys [m, d] → ([k, √(M² − ‖k‖²)] [m, d + 1] float32, M = max ‖k‖).

    Norms are computed in float64; the radicand is clipped at 0."""
    keys64 = np.asarray(keys, np.float64)
    sq = np.einsum("md,md->m", keys64, keys64)
    top = float(sq.max()) if sq.size else 0.0
    extra = np.sqrt(np.maximum(top - sq, 0.0))
    return np.ascontiguousarray(np.hstack([keys64, extra[:, None]]), np.float32), math.sqrt(top)


def augment_queries(queries: np.ndarray) -> np.ndarray:
    """Queries [n, d] → [q, 0] [n, d + 1] float32 (the query side of :func:`mips_to_l2`)."""
    queries = np.asarray(queries, np.float32)
    return np.ascontiguousarray(np.hstack([queries, np.zeros((queries.shape[0], 1), np.float32)]))


class MipsToL2(Index):
    """``hnsw_mips_l2`` / ``ivf_flat_mips_l2``: the L2 index ``inner`` (an :class:`HnswIndex` or
    :class:`IvfFlatIndex` of metric ``l2``) over the :func:`mips_to_l2` keys, searched with [x, 0]."""

    stores_float_keys = True

    def __init__(self, inner: HnswIndex | IvfFlatIndex) -> None:
        super().__init__(inner.repeats, inner.seed, inner.metric)
        if inner.metric != "l2":
            raise ValueError(f"the MIPS-to-L2 reduction needs an L2 index, got {inner.name} ({inner.metric})")
        self.inner = inner
        self.name = "hnsw_mips_l2" if isinstance(inner, HnswIndex) else "ivf_flat_mips_l2"
        self.param_name, self.faiss_class = inner.param_name, inner.faiss_class

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def num_keys(self) -> int:
        return self.inner.num_keys

    def build(self, keys: np.ndarray) -> "MipsToL2":
        self.keys = f32(keys)
        self.inner.build(mips_to_l2(self.keys)[0])
        self.index, self.build_seconds = self.inner.index, self.inner.build_seconds
        return self

    def load(self, path: str | Path, keys: np.ndarray, name: str = "--index", keys_name: str = "--keys",
             build_seconds: float = float("nan")) -> "MipsToL2":
        self.keys = f32(keys)
        self.inner.load(path, mips_to_l2(self.keys)[0], name, f"the reduced {keys_name}", build_seconds)
        self.index, self.build_seconds = self.inner.index, self.inner.build_seconds
        return self

    def release(self) -> None:
        self.inner.release()
        self.index = None

    def bytes_per_key(self, m: int, d: int) -> float:
        """The inner index's bytes per key in dimension d + 1."""
        return self.inner.bytes_per_key(m, d + 1)

    def search(self, vectors, k=10, probe=None, rerank=0, queries=None, route=None) -> Found:
        """The inner index's search of [x, 0] (no re-rank: its L2 order is the MIPS order)."""
        if rerank:
            raise InputError(f"{self.name}: no re-rank (the L2 order of the reduction is the MIPS order)")
        return self.inner.search(augment_queries(vectors), k, probe)
