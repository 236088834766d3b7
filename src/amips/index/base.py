"""The interface every index family shares, faiss-style: set up with its settings, then ``build(keys)`` or
``load(path, keys)`` (refused unless the file holds exactly those keys), ``save(path)``,
``search(vectors, k, probe=…, rerank=…)`` and ``bytes_per_key(m, d)``.

A search takes the vectors the index is searched with (the query x, or a model's predicted key ĝ(x)), the operating
point ``probe`` (IVF: lists probed, nprobe; HNSW: efSearch; exhaustive indexes: none), and ``rerank``: how many of
the index's candidates, best first, are re-ranked exactly with ``queries`` (0: none; :data:`EVERY`: every candidate
the index finds — every key of the probed lists, the walk's max(ef, k) keys). ``route`` (IVF only) are other vectors
that choose the lists, which ``vectors`` then scan. Re-ranked indices follow the exact order of
:mod:`amips.exact.order` (ties: lower key row first); the *seconds* time the float32 gather-and-dot a deployment
runs (:func:`rerank_float32`). Every search is one batch of all queries, timed best of ``repeats``
(:mod:`amips.index.timing`); its :class:`Cost` per query counts FLOPs (one multiply-add = 2), full-precision
distances (d-dimensional products: graph distances, coarse centroids, flat scans, re-ranks), compressed codes scanned,
graph hops and candidates re-ranked.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from amips.data.io import InputError
from amips.data.locks import exclusive_lock
from amips.index.store import check_codes, check_shape, metric_name, read_faiss, write_faiss

log = logging.getLogger("amips.index.base")

EVERY = -1  # rerank: every candidate the index finds
FLOAT_BYTES = 4
ID_BYTES = 8  # faiss idx_t ids of inverted lists
RERANK_CHUNK = 128  # queries per gather in the float32 re-rank ([chunk, C, d] float32)
METRICS = ("ip", "l2")
KIND_NAMES = {"IndexIVFFlat": "IVF index (IndexIVFFlat)", "IndexHNSWFlat": "HNSW index (IndexHNSWFlat)",
              "IndexIVFPQ": "IVF-PQ index (IndexIVFPQ)", "IndexPQ": "PQ index (IndexPQ)",
              "IndexScalarQuantizer": "scalar-quantiser index (IndexScalarQuantizer)",
              "IndexFlatIP": "flat index (IndexFlatIP)"}  # faiss class → what an error calls it

Self = TypeVar("Self", bound="Index")


@dataclass(frozen=True)
class Cost:
    """Per-query means of what one search computed (the network producing ĝ is the caller's)."""

    flops: float
    distances: float  # full-precision d-dim distance / inner-product evaluations
    codes: float = 0.0  # compressed codes scanned
    hops: float = float("nan")  # graph hops
    reranked: float = 0.0  # candidates re-ranked with the queries
    scanned: float = 0.0  # keys in the probed lists (IVF)


@dataclass(frozen=True)
class Found:
    """One search of a batch: indices [n, k] (−1 where fewer were found), seconds per query, its cost, and for IVF
    the lists probed [n, nprobe]."""

    indices: np.ndarray
    seconds: float
    cost: Cost
    lists: np.ndarray | None = None


def f32(a: np.ndarray) -> np.ndarray:
    """``a`` as a C-contiguous float32 array (what faiss reads)."""
    return np.ascontiguousarray(a, np.float32)


def default_nlist(num_keys: int) -> int:
    """⌊√m⌋ lists (the official choice)."""
    return max(1, int(math.isqrt(num_keys)))


def faiss_metric(metric: str) -> int:
    """faiss' metric type of ``ip`` / ``l2``."""
    import faiss

    if metric not in METRICS:
        raise InputError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    return faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2


def rerank_float32(queries: np.ndarray, keys: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    """The float32 re-rank a deployment runs (gather the candidates' keys [n, C, d], inner products with the
    queries [n, d], top k; −1 candidates last): timed as the re-rank's cost. Its indices can differ from the exact
    order (:func:`amips.exact.order.rerank_candidates`) only at float32 near-ties."""
    n = candidates.shape[0]
    out = np.empty((n, min(k, candidates.shape[1])), np.int64)
    for start in range(0, n, RERANK_CHUNK):
        cand = candidates[start : start + RERANK_CHUNK]
        scores = np.einsum("ncd,nd->nc", keys[np.maximum(cand, 0)], queries[start : start + RERANK_CHUNK])
        scores[cand < 0] = -np.inf
        top = np.argsort(-scores, axis=1, kind="stable")[:, : out.shape[1]]
        out[start : start + RERANK_CHUNK] = np.take_along_axis(cand, top, axis=1)
    return out


def found_count(candidates: np.ndarray) -> float:
    """Mean number of candidates found (index ≥ 0) per row of [n, C]."""
    return float((candidates >= 0).sum(axis=1).mean()) if candidates.size else 0.0


class Index:
    """One index family over keys [m, d]. Subclasses set ``name``, ``param_name`` (the operating point's name:
    ``nprobe``, ``ef``, or ``rerank`` for an exhaustive index), ``stores_float_keys`` (re-ranking from the float keys
    costs it no extra memory), ``faiss_class`` (what :meth:`load` accepts), ``options`` (settings a read index must
    match: attribute, option name, how the index states it), and implement ``_make``, ``search`` and
    ``bytes_per_key``."""

    name = ""
    param_name = ""
    stores_float_keys = False
    faiss_class = ""
    options: tuple[tuple[str, str, str], ...] = ()

    def __init__(self, repeats: int = 1, seed: int | None = 0, metric: str = "ip") -> None:
        faiss_metric(metric)
        self.repeats, self.seed, self.metric = int(repeats), seed, metric
        self.index: Any = None
        self.keys: np.ndarray | None = None
        self.build_seconds = float("nan")

    # --- identity -------------------------------------------------------------------------------------------------
    @property
    def label(self) -> str:
        """The family and its setting, unique within a run (file names of saved indexes)."""
        return self.name

    @property
    def code_bytes(self) -> float:
        """Bytes of a key's code (NaN where the index keeps the float keys)."""
        return float("nan")

    @property
    def dim(self) -> int:
        """The dimension the index works in."""
        return int(self.index.d)

    @property
    def num_keys(self) -> int:
        return int(self.index.ntotal)

    def describe(self) -> str:
        """What the index is, for a log line."""
        return f"{self.label} index over {self.num_keys} keys"

    def timed(self: Self, repeats: int) -> Self:
        """The same index (shared, not copied), its searches timed best of ``repeats``."""
        other = copy.copy(self)
        other.repeats = int(repeats)
        return other

    # --- build / store --------------------------------------------------------------------------------------------
    def build(self: Self, keys: np.ndarray) -> Self:
        """Train and fill the index on keys [m, d] (faiss on the threads set by the caller); records build seconds."""
        self.keys = f32(keys)
        t0 = time.perf_counter()
        self.index = self._make(self.keys)
        if not self.index.is_trained:
            self.index.train(self.keys)
        self.index.add(self.keys)
        self.build_seconds = time.perf_counter() - t0
        self._adopt(f"the new {self.label} index")
        log.info("%s: built over %d keys (d = %d) in %.1f s", self.label, *self.keys.shape, self.build_seconds)
        return self

    def _make(self, data: np.ndarray) -> Any:
        """The empty faiss index for data [m, d]."""
        raise NotImplementedError

    def _adopt(self, where: str) -> None:
        """Take the settings and lists of ``self.index`` (just built or read; errors start with ``where``)."""

    def release(self) -> None:
        """Drop the faiss index (its memory) once the searches are done."""
        self.index = None

    def save(self, path: str | Path) -> None:
        """Write the index (faiss format) atomically."""
        write_faiss(self.index, path)

    def load(self: Self, path: str | Path, keys: np.ndarray, name: str = "--index", keys_name: str = "--keys",
             build_seconds: float = float("nan")) -> Self:
        """Read an index written by :meth:`save`, refused unless it is of this family and holds exactly the keys
        [m, d] (:mod:`amips.index.store`); errors start with ``<name> <path>:``."""
        import faiss

        where = f"{name} {path}"
        index = read_faiss(path, where)
        found, kind = type(index).__name__, KIND_NAMES[self.faiss_class]
        if found != self.faiss_class:
            if found in KIND_NAMES:
                raise InputError(f"{where}: an {KIND_NAMES[found]}, not the {kind} asked for")
            raise InputError(f"{where}: a faiss {found}; {self.name} reads an {kind}")
        if index.metric_type != faiss_metric(self.metric):
            raise InputError(f"{where}: an {kind} with metric {metric_name(index.metric_type)}; {self.name} needs "
                             f"{metric_name(faiss_metric(self.metric))}")
        check_shape(index, keys, where, keys_name)
        self.index, self.keys, self.build_seconds = index, f32(keys), float(build_seconds)
        self._adopt(where)
        check_codes(index, keys, name, path, keys_name)
        return self

    def open(self: Self, path: str | Path, keys: np.ndarray, name: str = "--index",
             keys_name: str = "--keys") -> tuple[Self, bool]:
        """(self, built): the index at ``path`` read and checked (:meth:`load`), or, if there is no file, built and
        written there atomically under a lock. Settings given (not None) must match a read index's own."""
        path = Path(path)
        if not path.exists():
            with exclusive_lock(path, "amips search building this index"):
                if not path.exists():
                    self.build(keys)
                    self.save(path)
                    log.info("built an %s in %.2f s; saved to %s %s", self.describe(), self.build_seconds, name,
                             path)
                    return self, True
        wanted = {attr: getattr(self, attr) for attr, _, _ in self.options}
        t0 = time.perf_counter()
        self.load(path, keys, name, keys_name)
        for attr, option, what in self.options:
            if wanted[attr] is not None and wanted[attr] != getattr(self, attr):
                raise InputError(f"{option} {wanted[attr]}: {name} {path} was built with "
                                 f"{what.format(getattr(self, attr))} (leave {option} out to use it, or give a new "
                                 f"{name} path)")
        log.info("read %s %s: %s, checked against %s (%.2f s)", name, path, self.describe(), keys_name,
                 time.perf_counter() - t0)
        return self, False

    # --- memory ---------------------------------------------------------------------------------------------------
    def bytes_per_key(self, m: int, d: int) -> float:
        """Bytes per key of the index over m keys of dimension d: everything it holds, amortised over the keys."""
        raise NotImplementedError

    def serialized_bytes(self) -> int:
        """Size of the built index as faiss serialises it (the check of :meth:`bytes_per_key`)."""
        import faiss

        return int(faiss.serialize_index(self.index).size)

    # --- search ---------------------------------------------------------------------------------------------------
    def search(self, vectors: np.ndarray, k: int = 10, probe: int | None = None, rerank: int = 0,
               queries: np.ndarray | None = None, route: np.ndarray | None = None) -> Found:
        """The top k of ``vectors`` [n, d] at operating point ``probe``, the first ``rerank`` candidates re-ranked
        exactly with ``queries`` [n, d] (module docstring)."""
        raise NotImplementedError

    def search_reranks(self, vectors: np.ndarray, k: int, probe: int | None, reranks: list[int],
                       queries: np.ndarray | None = None, route: np.ndarray | None = None) -> list[Found]:
        """:meth:`search` at each re-rank depth of ``reranks`` (compressed indexes share one scan)."""
        return [self.search(vectors, k, probe, rerank, queries, route) for rerank in reranks]

    def _check_rerank(self, rerank: int, queries: np.ndarray | None) -> None:
        if rerank and queries is None:
            raise InputError(f"{self.name}: re-ranking {'every' if rerank == EVERY else rerank} candidates needs the "
                             "queries")
