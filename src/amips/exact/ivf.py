"""IVF (inverted file) search with natural or learned (projected) queries, with cost accounting.

The index is faiss ``IndexIVFFlat`` with an inner-product metric and a flat-IP coarse quantiser, as in the
official evaluation. A *projected* query is the model's predicted key ĝ(x) (KeyNet output or SupportNet
gradient), used unchanged for both the coarse step and the list scan.

Timing protocol of every sweep here (and of :func:`amips.experiments.routed.routed_sweep`): per operating point, all
n queries in **one** faiss call (a batch, never one call per query), best (least) wall-clock of ``repeats`` calls,
divided by n; faiss and BLAS at the thread count the caller set (the workflow's rules: 1 thread). Each row records
the protocol (``timing_queries``, ``timing_repeats``, ``timing_threads``) and the machine's 1-minute load average
before and after the sweep (``load_before``, ``load_after``); ``quiet_machine`` is True when both are at most
``quiet_load`` (:func:`quiet_threshold`: by default 0.75 × the cores), so that a table can refuse to compare
wall-clock measured on a loaded machine.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    return ivf_lists(index)


def ivf_lists(index: Any, where: str = "IVF index") -> IvfIndex:
    """An IVF index with its list sizes and the list of every key; its ids must be the key rows 0 … ntotal−1, each
    once (errors start with ``where``)."""
    import faiss

    m = int(index.ntotal)
    sizes = np.array([index.invlists.list_size(i) for i in range(index.nlist)], np.int64)
    key_list = np.full(m, -1, np.int64)
    seen = 0
    for lst in np.flatnonzero(sizes):
        ids = np.asarray(faiss.rev_swig_ptr(index.invlists.get_ids(int(lst)), int(sizes[lst])), np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= m):
            raise InputError(f"{where}: its ids are not the key rows 0 … {m - 1} (list {lst} holds id {ids.max()})")
        key_list[ids] = lst
        seen += ids.size
    if seen != m or (key_list < 0).any():
        raise InputError(f"{where}: its ids are not the key rows 0 … {m - 1}, each once")
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
    return ivf_lists(index, str(path))


def nprobe_grid(nlist: int, spec: list[int] | dict[str, Any] | None = None) -> list[int]:
    """The nprobe values every IVF sweep of a run measures (config ``experiments.ivf.nprobes``).

    ``spec``:
    * None or {}: 1, 2, 4, … up to nlist and nlist itself (all lists: the full sweep).
    * a list: those values, sorted, without duplicates, each at most nlist (a larger one means all lists).
    * a dict with a cap — ``max_nprobe`` (lists) and/or ``max_scan_fraction`` (of the lists, in (0, 1]: about the
      share of the keys scanned, lists being of similar size; the cap is ⌊fraction · nlist⌋, at least 1); the
      smaller cap holds: the powers of two up to the cap, and the cap itself unless ``include_cap`` is false.
    """
    if nlist < 1:
        raise InputError(f"nlist must be at least 1, got {nlist}")
    if isinstance(spec, (list, tuple)):
        if not spec or any(isinstance(p, bool) or int(p) != p or p < 1 for p in spec):
            raise InputError(f"experiments.ivf.nprobes: a list of positive integers, got {list(spec)}")
        return sorted({min(int(p), nlist) for p in spec})
    spec = dict(spec or {})
    unknown = set(spec) - {"max_nprobe", "max_scan_fraction", "include_cap"}
    if unknown:
        raise InputError(f"experiments.ivf.nprobes: unknown settings {sorted(unknown)} (max_nprobe, "
                         "max_scan_fraction, include_cap)")
    cap = nlist
    if spec.get("max_nprobe") is not None:
        if int(spec["max_nprobe"]) < 1:
            raise InputError(f"experiments.ivf.nprobes.max_nprobe must be at least 1, got {spec['max_nprobe']}")
        cap = min(cap, int(spec["max_nprobe"]))
    if spec.get("max_scan_fraction") is not None:
        fraction = float(spec["max_scan_fraction"])
        if not 0.0 < fraction <= 1.0:
            raise InputError(f"experiments.ivf.nprobes.max_scan_fraction must be in (0, 1], got {fraction}")
        cap = min(cap, max(1, int(math.floor(fraction * nlist + 1e-9))))
    grid = {1 << i for i in range(int(math.log2(cap)) + 1)}
    if spec.get("include_cap", True):
        grid.add(cap)
    return sorted(grid)


def sweep_timing(cfg: dict[str, Any]) -> dict[str, Any]:
    """The timing keyword arguments of the sweeps (``repeats``, ``quiet_load``) from the ``experiments.ivf`` block
    (``timing_repeats``, default 1; ``quiet_load``, default :func:`quiet_threshold`'s)."""
    repeats = int(cfg.get("timing_repeats", 1))
    if repeats < 1:
        raise InputError(f"experiments.ivf.timing_repeats must be at least 1, got {repeats}")
    return {"repeats": repeats, "quiet_load": cfg.get("quiet_load")}


def quiet_threshold(quiet_load: float | None = None) -> float:
    """The 1-minute load average up to which a machine counts as quiet: ``quiet_load`` (config
    ``experiments.ivf.quiet_load``), or 0.75 × the cores when None (1.5 on a 2-core machine)."""
    return float(quiet_load) if quiet_load is not None else 0.75 * (os.cpu_count() or 1)


def machine_load() -> float:
    """The 1-minute load average (NaN where the platform has none)."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return float("nan")


def load_columns(load_before: float, load_after: float, quiet_load: float | None = None) -> dict[str, Any]:
    """``load_before``, ``load_after``, ``quiet_load`` and ``quiet_machine`` (both loads at most the threshold; an
    unknown load is not quiet) of a sweep's rows."""
    threshold = quiet_threshold(quiet_load)
    quiet = bool(load_before <= threshold and load_after <= threshold)  # NaN compares False
    return {"load_before": load_before, "load_after": load_after, "quiet_load": threshold, "quiet_machine": quiet}


def timing_columns(num_queries: int, repeats: int) -> dict[str, Any]:
    """The timing protocol of a sweep's rows (module docstring): queries per faiss call, repeats, threads."""
    import faiss

    return {"timing_queries": int(num_queries), "timing_repeats": int(repeats),
            "timing_threads": int(faiss.omp_get_max_threads())}


def best_of(repeats: int, call) -> tuple[Any, float]:
    """(the first call's result, the least wall-clock seconds of ``repeats`` ≥ 1 calls of ``call()``)."""
    result, best = None, float("inf")
    for i in range(max(1, int(repeats))):
        t0 = time.perf_counter()
        out = call()
        best = min(best, time.perf_counter() - t0)
        result = out if i == 0 else result
    return result, best


def ivf_search(ivf: IvfIndex, vectors: np.ndarray, nprobe: int, k: int,
               repeats: int = 1) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Search vectors [n, d] in one faiss call; returns (indices [n, k], seconds per query — the best of
    ``repeats`` calls —, scanned keys per query [n], probed lists [n, nprobe])."""
    index = ivf.index
    index.nprobe = nprobe
    vectors = np.ascontiguousarray(vectors, np.float32)
    (_, idx), seconds = best_of(repeats, lambda: index.search(vectors, k))
    seconds /= max(1, vectors.shape[0])
    _, probed = index.quantizer.search(vectors, nprobe)
    scanned = ivf.list_sizes[np.maximum(probed, 0)].sum(axis=1)
    return idx, seconds, scanned, probed


def ivf_sweep(ivf: IvfIndex, vectors: np.ndarray, true_top1: np.ndarray, nprobes: list[int], k_values: list[int],
              extra_flops: float = 0.0, extra_seconds: float = 0.0, log_points: bool = True, repeats: int = 1,
              quiet_load: float | None = None) -> list[dict[str, float]]:
    """Recall of the exact top-1 for each nprobe; cost per query = coarse step + scanned lists (+ the network).

    Args:
        vectors: the IVF queries [n, d] (natural x, or the projected ĝ(x)).
        true_top1: exact top-1 key index of the *natural* query [n].
        nprobes: the grid (:func:`nprobe_grid` of the run's ``experiments.ivf.nprobes``).
        extra_flops, extra_seconds: per-query cost of producing ``vectors`` (the network; 0 for natural).
        log_points: log each operating point (INFO) as it is measured.
        repeats, quiet_load: the timing protocol (module docstring).
    Returns one row per nprobe: nprobe, recall@k for k in k_values (recall@1 is the match rate),
    routing_coverage (the fraction of queries whose true top-1 key lies in one of the probed lists: what probing with
    ``vectors`` and ranking the candidates with the natural query would reach; for the natural query it equals
    recall@1), flops, scanned_keys, seconds (per query, wall-clock of faiss search + extra_seconds),
    non_finite_queries, and the timing and load columns (:func:`timing_columns`, :func:`load_columns`). A query
    vector with a NaN/Inf entry (a diverged model) is a miss at every k.
    """
    from amips.data.arrays import finite_rows

    d = vectors.shape[1]
    finite = finite_rows(vectors)
    kmax = max(k_values)
    rows = []
    load_before = machine_load()
    for nprobe in nprobes:
        t0 = time.perf_counter()
        idx, seconds, scanned, probed = ivf_search(ivf, vectors, nprobe, kmax, repeats)
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
    return with_protocol(rows, load_before, len(vectors), repeats, quiet_load)


def with_protocol(rows: list[dict[str, Any]], load_before: float, num_queries: int, repeats: int,
                  quiet_load: float | None) -> list[dict[str, Any]]:
    """``rows`` of one sweep with its timing and load columns (the load after read now)."""
    extra = {**timing_columns(num_queries, repeats), **load_columns(load_before, machine_load(), quiet_load)}
    if not extra["quiet_machine"]:
        log.info("wall-clock of this sweep measured at load %.2f → %.2f (above %.2f): marked not quiet",
                 extra["load_before"], extra["load_after"], extra["quiet_load"])
    return [{**row, **extra} for row in rows]


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
                     k_values: list[int], m_links: int = 16, ef_construction: int = 100, repeats: int = 1,
                     quiet_load: float | None = None) -> list[dict[str, float]]:
    """faiss ``IndexHNSWFlat`` (inner product): recall, wall-clock and FLOPs per query for each efSearch.

    FLOPs = 2·d·(distance computations per query), counted by faiss (``hnsw_stats.ndis``); graph-walk overhead is not
    counted. Each row also carries the build cost: ``build_seconds`` (measured) and ``build_flops``. faiss does not
    count the distances of insertion, so ``build_flops`` is a measured proxy: 2·d·(distances of searching every key
    in the finished graph at efSearch = efConstruction), the search each insertion performs. Timing protocol and
    load columns as :func:`ivf_sweep`.
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
    load_before = machine_load()
    for ef in ef_values:
        index.hnsw.efSearch = max(ef, kmax)
        stats.reset()
        t0 = time.perf_counter()
        _, idx = index.search(queries, kmax)
        seconds = time.perf_counter() - t0
        distances = float(stats.ndis / queries.shape[0])  # counted on the first call
        if repeats > 1:
            seconds = min(seconds, best_of(repeats - 1, lambda: index.search(queries, kmax))[1])
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

    from amips.exact.flops import exact_search_flops
    from amips.exact.labels import exact_topk

    load_before = machine_load()
    with threadpool_limits(limits=max(1, int(threads))):
        seconds = best_of(repeats, lambda: exact_topk(queries, keys, 1))[1] / queries.shape[0]
    row = {"seconds": seconds, "flops": float(exact_search_flops(keys.shape[0], keys.shape[1])),
           "scanned_keys": float(keys.shape[0])}
    row.update({f"recall@{k}": 1.0 for k in k_values})
    return with_protocol([row], load_before, len(queries), repeats, quiet_load)[0]
