"""Sweeps of an index over its operating points — recall of the exact top-1 and every cost per query — in one
batch per point, timed and load-stamped by the protocol of :mod:`amips.index.timing`: IVF-Flat over nprobe
(:func:`ivf_sweep`, also the sweep of :func:`amips.routing.routed.routed_sweep`'s rows), faiss HNSW and hnswlib
over ef, and the exact search's one row.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from amips.index.exact import ExactIndex
from amips.index.hnsw import HNSW_EF_CONSTRUCTION, HnswIndex
from amips.index.ivf import IvfFlatIndex
from amips.index.timing import best_of, machine_load, with_protocol

log = logging.getLogger("amips.index.sweeps")


def ivf_sweep(ivf: IvfFlatIndex, vectors: np.ndarray, true_top1: np.ndarray, nprobes: list[int], k_values: list[int],
              extra_flops: float = 0.0, extra_seconds: float = 0.0, log_points: bool = True, repeats: int = 1,
              quiet_load: float | None = None) -> list[dict[str, float]]:
    """Recall of the exact top-1 for each nprobe; cost per query = coarse step + scanned lists (+ the network).

    Args:
        vectors: the IVF queries [n, d] (natural x, or the projected ĝ(x)).
        true_top1: exact top-1 key index of the *natural* query [n].
        nprobes: the grid (:func:`nprobe_grid` of the run's ``experiments.ivf.nprobes``).
        extra_flops, extra_seconds: per-query cost of producing ``vectors`` (the network; 0 for natural).
        log_points: log each operating point (INFO) as it is measured.
        repeats, quiet_load: the timing protocol (:mod:`amips.index.timing`).
    Returns one row per nprobe: nprobe, recall@k for k in k_values (recall@1 is the match rate),
    routing_coverage (the fraction of queries whose true top-1 key lies in one of the probed lists: what probing with
    ``vectors`` and ranking the candidates with the natural query would reach; for the natural query it equals
    recall@1), flops, scanned_keys, seconds (per query, wall-clock of faiss search + extra_seconds),
    non_finite_queries, and the timing and load columns (:mod:`amips.index.timing`). A query
    vector with a NaN/Inf entry (a diverged model) is a miss at every k.
    """
    from amips.data.arrays import finite_rows

    timed = ivf.timed(repeats)
    finite = finite_rows(vectors)
    kmax = max(k_values)
    rows = []
    load_before = machine_load()
    for nprobe in nprobes:
        t0 = time.perf_counter()
        found = timed.search(vectors, kmax, nprobe)
        idx, scanned = found.indices, found.cost.scanned
        covered = (found.lists == ivf.key_list[true_top1][:, None]).any(axis=1) & finite
        row = {"nprobe": nprobe, "scanned_keys": float(scanned), "routing_coverage": float(covered.mean()),
               "flops": float(found.cost.flops + extra_flops),
               "seconds": found.seconds + extra_seconds, "non_finite_queries": int((~finite).sum())}
        for k in k_values:
            row[f"recall@{k}"] = float(np.mean((idx[:, :k] == true_top1[:, None]).any(axis=1) & finite))
        rows.append(row)
        if log_points:
            log.info("IVF nprobe %d/%d: recall@1 %.4f, %.0f keys scanned per query (%.1f s)", nprobe, ivf.nlist,
                     row.get("recall@1", float("nan")), row["scanned_keys"], time.perf_counter() - t0)
    return with_protocol(rows, load_before, len(vectors), repeats, quiet_load)


def hnsw_sweep(keys: np.ndarray, queries: np.ndarray, true_top1: np.ndarray, ef_values: list[int],
               k_values: list[int], m_links: int = 16, ef_construction: int = 100, threads: int = 1,
               seed: int = 0, repeats: int = 1, quiet_load: float | None = None) -> list[dict[str, float]]:
    """hnswlib (space 'ip') baseline: recall and wall-clock per query for each ef (FLOPs are not exposed), and the
    measured build seconds; timing protocol and load columns as :func:`ivf_sweep`."""
    import hnswlib

    index = hnswlib.Index(space="ip", dim=keys.shape[1])
    index.init_index(max_elements=keys.shape[0], ef_construction=ef_construction, M=m_links, random_seed=seed)
    t0 = time.perf_counter()
    index.add_items(np.ascontiguousarray(keys, np.float32), num_threads=threads)
    build_seconds = time.perf_counter() - t0
    log.info("HNSW index of %d keys built in %.1f s (%d threads)", keys.shape[0], build_seconds, threads)
    kmax = max(k_values)
    rows = []
    queries = np.ascontiguousarray(queries, np.float32)
    load_before = machine_load()
    for ef in ef_values:
        index.set_ef(max(ef, kmax))
        (idx, _), seconds = best_of(repeats, lambda: index.knn_query(queries, k=kmax, num_threads=threads))
        seconds /= queries.shape[0]
        row = {"ef": ef, "seconds": seconds, "flops": float("nan"), "build_seconds": build_seconds}
        for k in k_values:
            row[f"recall@{k}"] = float(np.mean((idx[:, :k] == true_top1[:, None]).any(axis=1)))
        rows.append(row)
        log.info("HNSW ef %d: recall@1 %.4f, %.3g ms per query", ef, row.get("recall@1", float("nan")), 1e3 * seconds)
    return with_protocol(rows, load_before, len(queries), repeats, quiet_load)


def faiss_hnsw_sweep(keys: np.ndarray, queries: np.ndarray, true_top1: np.ndarray, ef_values: list[int],
                     k_values: list[int], m_links: int = 16, ef_construction: int = HNSW_EF_CONSTRUCTION, repeats: int = 1,
                     quiet_load: float | None = None) -> list[dict[str, float]]:
    """faiss ``IndexHNSWFlat`` (inner product): recall, wall-clock and FLOPs per query for each efSearch.

    FLOPs = 2·d·(distance computations per query), counted by faiss (``hnsw_stats.ndis``); graph-walk overhead is not
    counted. Each row also carries the build cost: ``build_seconds`` (measured) and ``build_flops``. faiss does not
    count the distances of insertion, so ``build_flops`` is a measured proxy: 2·d·(distances of searching every key
    in the finished graph at efSearch = efConstruction), the search each insertion performs. Timing protocol and
    load columns as :func:`ivf_sweep`.
    """
    hnsw = HnswIndex("ip", m_links, ef_construction, repeats=repeats).build(keys)
    d, build_seconds = keys.shape[1], hnsw.build_seconds
    build_flops = float(2 * d * hnsw.walk(hnsw.keys, 1, ef_construction)[1])
    kmax = max(k_values)
    queries = np.ascontiguousarray(queries, np.float32)
    rows = []
    load_before = machine_load()
    for ef in ef_values:
        (idx, ndis, _), seconds = best_of(repeats, lambda: hnsw.walk(queries, kmax, max(ef, kmax)))
        distances = float(ndis / queries.shape[0])
        seconds /= queries.shape[0]
        row = {"ef": ef, "seconds": seconds, "flops": float(2 * d * distances),
               "distances": distances, "build_seconds": build_seconds,
               "build_flops": build_flops}
        for k in k_values:
            row[f"recall@{k}"] = float(np.mean((idx[:, :k] == true_top1[:, None]).any(axis=1)))
        rows.append(row)
        log.info("faiss HNSW ef %d: recall@1 %.4f, %.0f distances per query", ef, row.get("recall@1", float("nan")),
                 row["distances"])
    return with_protocol(rows, load_before, len(queries), repeats, quiet_load)


def exact_search_row(keys: np.ndarray, queries: np.ndarray, k_values: list[int], threads: int = 1, repeats: int = 1,
                     quiet_load: float | None = None) -> dict[str, float]:
    """Brute-force search cost (recall 1 by definition), timed with the chunked exact search in one call for all
    queries, best of ``repeats``, BLAS and faiss limited to ``threads``; timing and load columns as
    :func:`ivf_sweep`."""
    from threadpoolctl import threadpool_limits

    load_before = machine_load()
    with threadpool_limits(limits=max(1, int(threads))):
        found = ExactIndex(repeats=repeats).build(keys).search(queries, 1)
    row = {"seconds": found.seconds, "flops": found.cost.flops, "scanned_keys": found.cost.distances}
    row.update({f"recall@{k}": 1.0 for k in k_values})
    return with_protocol([row], load_before, len(queries), repeats, quiet_load)[0]
