"""IVF (inverted file) search with natural or learned (projected) queries, with cost accounting.

The index is faiss ``IndexIVFFlat`` with an inner-product metric and a flat-IP coarse quantiser, as in the
official evaluation. A *projected* query is the model's predicted key ĝ(x) (KeyNet output or SupportNet
gradient), used unchanged for both the coarse step and the list scan.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from amips.data.io import InputError, atomic_path

log = logging.getLogger("amips.exact.ivf")


@dataclass
class IvfIndex:
    """A trained, filled IVF index, its list sizes [nlist] and the list of every key [m]."""

    index: object
    list_sizes: np.ndarray
    key_list: np.ndarray

    @property
    def nlist(self) -> int:
        return int(self.list_sizes.size)


def default_nlist(num_keys: int) -> int:
    """⌊√m⌋ lists (the official choice)."""
    return max(1, int(math.isqrt(num_keys)))


def build_ivf(keys: np.ndarray, nlist: int | None = None, seed: int = 0) -> IvfIndex:
    """Train and fill an IndexIVFFlat(IP) on keys [m, d]."""
    import faiss

    keys = np.ascontiguousarray(keys, np.float32)
    nlist = nlist or default_nlist(keys.shape[0])
    if not 1 <= nlist <= keys.shape[0]:
        raise InputError(f"nlist={nlist} must be between 1 and the number of keys m={keys.shape[0]}")
    log.info("training an IVF index: %d lists over %d keys (d = %d)", nlist, keys.shape[0], keys.shape[1])
    quantizer = faiss.IndexFlatIP(keys.shape[1])
    index = faiss.IndexIVFFlat(quantizer, keys.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    index.train(keys)
    index.add(keys)
    return _wrap(index)


def _wrap(index) -> IvfIndex:
    import faiss

    sizes = np.array([index.invlists.list_size(i) for i in range(index.nlist)], np.int64)
    key_list = np.full(index.ntotal, -1, np.int64)
    for lst in range(index.nlist):
        if sizes[lst]:
            ids = faiss.rev_swig_ptr(index.invlists.get_ids(lst), int(sizes[lst]))
            key_list[np.asarray(ids, np.int64)] = lst
    return IvfIndex(index, sizes, key_list)


def save_ivf(ivf: IvfIndex, path: str | Path) -> None:
    """Write the index (faiss format) atomically, so every run of a dataset searches the same partition."""
    import faiss

    with atomic_path(path) as tmp:
        faiss.write_index(ivf.index, str(tmp))


def load_ivf(path: str | Path) -> IvfIndex:
    """Read an index written by :func:`save_ivf`."""
    import faiss

    path = Path(path)
    if not path.exists():
        raise InputError(f"IVF index file not found: {path}")
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        raise InputError(f"IVF index file is corrupt or not a faiss index: {path}") from exc
    if not isinstance(index, faiss.IndexIVF):
        raise InputError(f"{path} is a faiss index but not an IVF index ({type(index).__name__})")
    return _wrap(index)


def load_checked_ivf(path: str | Path, keys: np.ndarray) -> IvfIndex:
    """:func:`load_ivf`, refused in one line unless the index holds keys [m, d] of the same shape."""
    ivf = load_ivf(path)
    if ivf.key_list.shape[0] != keys.shape[0] or ivf.index.d != keys.shape[1]:
        raise InputError(f"IVF index {path} holds {ivf.key_list.shape[0]} keys of dimension {ivf.index.d}, the "
                         f"keys are {keys.shape[0]} × {keys.shape[1]}")
    return ivf


def nprobe_grid(nlist: int) -> list[int]:
    """1, 2, 4, … up to nlist (always including nlist): the full sweep."""
    grid = [1 << i for i in range(int(math.log2(nlist)) + 1)]
    return sorted(set(grid + [nlist]))


def ivf_search(ivf: IvfIndex, vectors: np.ndarray, nprobe: int,
               k: int) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Search vectors [n, d]; returns (indices [n, k], seconds per query, scanned keys per query [n],
    probed lists [n, nprobe])."""
    index = ivf.index
    index.nprobe = nprobe
    vectors = np.ascontiguousarray(vectors, np.float32)
    t0 = time.perf_counter()
    _, idx = index.search(vectors, k)
    seconds = (time.perf_counter() - t0) / max(1, vectors.shape[0])
    _, probed = index.quantizer.search(vectors, nprobe)
    scanned = ivf.list_sizes[np.maximum(probed, 0)].sum(axis=1)
    return idx, seconds, scanned, probed


def ivf_sweep(ivf: IvfIndex, vectors: np.ndarray, true_top1: np.ndarray, nprobes: list[int], k_values: list[int],
              extra_flops: float = 0.0, extra_seconds: float = 0.0, log_points: bool = True) -> list[dict[str, float]]:
    """Recall of the exact top-1 for each nprobe; cost per query = coarse step + scanned lists (+ the network).

    Args:
        vectors: the IVF queries [n, d] (natural x, or the projected ĝ(x)).
        true_top1: exact top-1 key index of the *natural* query [n].
        extra_flops, extra_seconds: per-query cost of producing ``vectors`` (the network; 0 for natural).
        log_points: log each operating point (INFO) as it is measured.
    Returns one row per nprobe: nprobe, recall@k for k in k_values (recall@1 is the match rate),
    routing_coverage (the fraction of queries whose true top-1 key lies in one of the probed lists: what probing with
    ``vectors`` and ranking the candidates with the natural query would reach; for the natural query it equals
    recall@1), flops, scanned_keys, seconds (per query, wall-clock of faiss search + extra_seconds), and
    non_finite_queries. A query vector with a NaN/Inf entry (a diverged model) is a miss at every k.
    """
    from amips.data.arrays import finite_rows

    d = vectors.shape[1]
    finite = finite_rows(vectors)
    kmax = max(k_values)
    rows = []
    for nprobe in nprobes:
        t0 = time.perf_counter()
        idx, seconds, scanned, probed = ivf_search(ivf, vectors, nprobe, kmax)
        covered = (probed == ivf.key_list[true_top1][:, None]).any(axis=1) & finite
        row = {"nprobe": nprobe, "scanned_keys": float(scanned.mean()), "routing_coverage": float(covered.mean()),
               "flops": float(2 * d * (ivf.nlist + scanned.mean()) + extra_flops),
               "seconds": seconds + extra_seconds, "non_finite_queries": int((~finite).sum())}
        for k in k_values:
            row[f"recall@{k}"] = float(np.mean((idx[:, :k] == true_top1[:, None]).any(axis=1) & finite))
        rows.append(row)
        if log_points:
            log.info("IVF nprobe %d/%d: recall@1 %.4f, %.0f keys scanned per query (%.1f s)", nprobe, ivf.nlist,
                     row.get("recall@1", float("nan")), row["scanned_keys"], time.perf_counter() - t0)
    return rows


def hnsw_sweep(keys: np.ndarray, queries: np.ndarray, true_top1: np.ndarray, ef_values: list[int],
               k_values: list[int], m_links: int = 16, ef_construction: int = 100, threads: int = 1,
               seed: int = 0) -> list[dict[str, float]]:
    """hnswlib (space 'ip') baseline: recall and wall-clock per query for each ef (FLOPs are not exposed), and the
    measured build seconds."""
    import hnswlib

    index = hnswlib.Index(space="ip", dim=keys.shape[1])
    index.init_index(max_elements=keys.shape[0], ef_construction=ef_construction, M=m_links, random_seed=seed)
    t0 = time.perf_counter()
    index.add_items(np.ascontiguousarray(keys, np.float32), num_threads=threads)
    build_seconds = time.perf_counter() - t0
    log.info("HNSW index of %d keys built in %.1f s (%d threads)", keys.shape[0], build_seconds, threads)
    kmax = max(k_values)
    rows = []
    for ef in ef_values:
        index.set_ef(max(ef, kmax))
        t0 = time.perf_counter()
        idx, _ = index.knn_query(np.ascontiguousarray(queries, np.float32), k=kmax, num_threads=threads)
        seconds = (time.perf_counter() - t0) / queries.shape[0]
        row = {"ef": ef, "seconds": seconds, "flops": float("nan"), "build_seconds": build_seconds}
        for k in k_values:
            row[f"recall@{k}"] = float(np.mean((idx[:, :k] == true_top1[:, None]).any(axis=1)))
        rows.append(row)
        log.info("HNSW ef %d: recall@1 %.4f, %.3g ms per query", ef, row.get("recall@1", float("nan")), 1e3 * seconds)
    return rows


def faiss_hnsw_sweep(keys: np.ndarray, queries: np.ndarray, true_top1: np.ndarray, ef_values: list[int],
                     k_values: list[int], m_links: int = 16, ef_construction: int = 100) -> list[dict[str, float]]:
    """faiss ``IndexHNSWFlat`` (inner product): recall, wall-clock and FLOPs per query for each efSearch.

    FLOPs = 2·d·(distance computations per query), counted by faiss (``hnsw_stats.ndis``); graph-walk overhead is not
    counted. Each row also carries the build cost: ``build_seconds`` (measured) and ``build_flops``. faiss does not
    count the distances of insertion, so ``build_flops`` is a measured proxy: 2·d·(distances of searching every key
    in the finished graph at efSearch = efConstruction), the search each insertion performs.
    """
    import faiss

    d = keys.shape[1]
    index = faiss.IndexHNSWFlat(d, m_links, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    stats = faiss.cvar.hnsw_stats
    keys = np.ascontiguousarray(keys, np.float32)
    t0 = time.perf_counter()
    index.add(keys)
    build_seconds = time.perf_counter() - t0
    index.hnsw.efSearch = ef_construction
    stats.reset()
    index.search(keys, 1)
    build_flops = float(2 * d * stats.ndis)
    kmax = max(k_values)
    queries = np.ascontiguousarray(queries, np.float32)
    rows = []
    for ef in ef_values:
        index.hnsw.efSearch = max(ef, kmax)
        stats.reset()
        t0 = time.perf_counter()
        _, idx = index.search(queries, kmax)
        seconds = (time.perf_counter() - t0) / queries.shape[0]
        row = {"ef": ef, "seconds": seconds, "flops": float(2 * d * stats.ndis / queries.shape[0]),
               "distances": float(stats.ndis / queries.shape[0]), "build_seconds": build_seconds,
               "build_flops": build_flops}
        for k in k_values:
            row[f"recall@{k}"] = float(np.mean((idx[:, :k] == true_top1[:, None]).any(axis=1)))
        rows.append(row)
        log.info("faiss HNSW ef %d: recall@1 %.4f, %.0f distances per query", ef, row.get("recall@1", float("nan")),
                 row["distances"])
    return rows


def exact_search_row(keys: np.ndarray, queries: np.ndarray, k_values: list[int]) -> dict[str, float]:
    """Brute-force search cost (recall 1 by definition), timed with the chunked exact search."""
    from amips.exact.flops import exact_search_flops
    from amips.exact.labels import exact_topk

    t0 = time.perf_counter()
    exact_topk(queries, keys, 1)
    seconds = (time.perf_counter() - t0) / queries.shape[0]
    row = {"seconds": seconds, "flops": float(exact_search_flops(keys.shape[0], keys.shape[1])),
           "scanned_keys": float(keys.shape[0])}
    row.update({f"recall@{k}": 1.0 for k in k_values})
    return row
