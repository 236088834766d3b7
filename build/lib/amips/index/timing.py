"""The timing protocol of every index search and sweep, and the load of the machine it ran on.

Per operating point, all n queries in **one** call (a batch, never one call per query), best (least) wall-clock of
``repeats`` calls (:func:`best_of`), divided by n; faiss and BLAS at the thread count the caller set
(:func:`set_threads`; the workflow's rules: 1 thread). Each row of a sweep records the protocol
(``timing_queries``, ``timing_repeats``, ``timing_threads``) and the machine's 1-minute load average before and after
the sweep (``load_before``, ``load_after``); ``quiet_machine`` is True when both are at most ``quiet_load``
(:func:`quiet_threshold`: by default 0.75 × the cores), so that a table can refuse to compare wall-clock measured on a
loaded machine.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, TypeVar

from amips.data.io import InputError

log = logging.getLogger("amips.index.timing")

T = TypeVar("T")
TIMING = "one batch of all queries, best of {repeats}, faiss on 1 thread"  # the protocol, as a CSV column says it


def set_threads(threads: int) -> None:
    """faiss' OpenMP threads (a multi-threaded HNSW build is not reproducible)."""
    import faiss

    faiss.omp_set_num_threads(max(1, int(threads)))


def best_of(repeats: int, call: Callable[[], T]) -> tuple[T, float]:
    """(the first call's result, the least wall-clock seconds of ``repeats`` ≥ 1 calls of ``call()``)."""
    result, best = None, float("inf")
    for i in range(max(1, int(repeats))):
        t0 = time.perf_counter()
        out = call()
        best = min(best, time.perf_counter() - t0)
        result = out if i == 0 else result
    return result, best


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
    """The timing protocol of a sweep's rows (module docstring): queries per call, repeats, faiss threads."""
    import faiss

    return {"timing_queries": int(num_queries), "timing_repeats": int(repeats),
            "timing_threads": int(faiss.omp_get_max_threads())}


def with_protocol(rows: list[dict[str, Any]], load_before: float, num_queries: int, repeats: int,
                  quiet_load: float | None) -> list[dict[str, Any]]:
    """``rows`` of one sweep with its timing and load columns (the load after read now)."""
    extra = {**timing_columns(num_queries, repeats), **load_columns(load_before, machine_load(), quiet_load)}
    if not extra["quiet_machine"]:
        log.info("wall-clock of this sweep measured at load %.2f → %.2f (above %.2f): marked not quiet",
                 extra["load_before"], extra["load_after"], extra["quiet_load"])
    return [{**row, **extra} for row in rows]
