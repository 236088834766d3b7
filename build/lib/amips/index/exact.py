"""The exact index: every key scored, in the exact MIPS order of :mod:`amips.exact.order`
(:func:`amips.exact.labels.exact_topk`), on the CPU or a GPU; saved as a faiss ``IndexFlatIP`` of the keys.

**Cost** per query: 2·m·d FLOPs (:func:`amips.exact.flops.exact_search_flops`), m distances. **Memory**: 4·d bytes
per key (the float keys).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from amips.exact.flops import exact_search_flops
from amips.exact.labels import exact_topk
from amips.index.base import FLOAT_BYTES, Cost, Found, Index, f32
from amips.index.store import write_faiss
from amips.index.timing import best_of


class ExactIndex(Index):
    """Brute force over keys [m, d] on ``device`` (the keys are the index; no re-rank: the order is already exact)."""

    name = "exact"
    stores_float_keys = True
    faiss_class = "IndexFlatIP"

    def __init__(self, device: str | None = "cpu", **kw) -> None:
        super().__init__(**kw)
        self.device = device

    @property
    def dim(self) -> int:
        return int(self.keys.shape[1])

    @property
    def num_keys(self) -> int:
        return int(self.keys.shape[0])

    def build(self, keys: np.ndarray) -> "ExactIndex":
        """Hold the keys [m, d] (nothing to train; no copy where they are float32 already)."""
        self.keys, self.build_seconds = f32(keys), 0.0
        return self

    def _adopt(self, where: str) -> None:
        self.index = None  # the keys, checked against the file, are the index

    def _make(self, data: np.ndarray) -> Any:
        import faiss

        return faiss.IndexFlatIP(data.shape[1])

    def save(self, path: str | Path) -> None:
        """Write the keys as a faiss ``IndexFlatIP``."""
        index = self._make(self.keys)
        index.add(self.keys)
        write_faiss(index, path)

    def bytes_per_key(self, m: int, d: int) -> float:
        """4·d: the float keys."""
        return float(FLOAT_BYTES * d)

    def search(self, vectors, k=10, probe=None, rerank=0, queries=None, route=None) -> Found:
        """The exact top k of ``vectors`` [n, d] over every key."""
        vectors = np.asarray(vectors)
        (_, idx), seconds = best_of(self.repeats, lambda: exact_topk(vectors, self.keys, k, device=self.device))
        m, d = self.keys.shape
        return Found(idx, seconds / max(1, vectors.shape[0]), Cost(float(exact_search_flops(m, d)), float(m)))
