"""Which CPU engine computes exact labels on this machine: measured once, then cached.

The fastest exact top-k engine depends on the CPU and its BLAS libraries: numpy's OpenBLAS GEMM tiles beat
faiss on an AMD Zen 4, faiss' kernel beat numpy's on an AVX-512 Intel Xeon, and faiss' heap top-k beats a numpy
partition for k > 1. So the first large call on a machine times every engine on synthetic data of the same
dimension (interleaved, best of ``repeats``) and stores the winner in a JSON cache keyed by everything that
changes the answer: CPU model, thread counts, numpy/faiss versions, d and whether k = 1. Later calls (and
other processes) read the cache. The engines are exact and share the tie rule, so the choice changes speed
only (scores may differ in the last float bit between engines).

Environment: ``AMIPS_LABEL_BACKEND`` forces an engine; ``AMIPS_CACHE_DIR`` (default
``$XDG_CACHE_HOME/amips`` or ``~/.cache/amips``) holds ``label_backends.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from amips.data.io import InputError, atomic_write_json

log = logging.getLogger(__name__)

CACHE_FILE = "label_backends.json"
# Calls below this many FLOP (2·n·m·d) take the default engine: measuring would cost more than it saves.
MIN_FLOP_TO_MEASURE = 2e10
DEFAULT_ENGINE = "numpy"  # top-1: a tile GEMM + argmax
DEFAULT_TOPK_ENGINE = "faiss"  # k > 1: faiss' heap top-k is the faster on every CPU measured
CALIBRATION_SHAPE = (1024, 32768)  # (queries, keys) of the timing problem: 8 numpy tiles, 2·1024·32768·d FLOP
CALIBRATION_K = 10  # the k timed for top-k (k > 1) calls


def cache_path() -> Path:
    root = os.environ.get("AMIPS_CACHE_DIR")
    if not root:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "amips"
    return Path(root) / CACHE_FILE


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _threads() -> tuple[int, int]:
    """(BLAS threads numpy uses, OpenMP threads faiss uses)."""
    from threadpoolctl import threadpool_info

    blas = max((p.get("num_threads", 1) for p in threadpool_info() if p.get("user_api") == "blas"), default=1)
    try:
        import faiss

        omp = faiss.omp_get_max_threads()
    except ImportError:
        omp = 0
    return int(blas), int(omp)


def machine_key(dim: int, k: int) -> str:
    """Everything the fastest engine depends on, as one string."""
    try:
        import faiss

        faiss_version = faiss.__version__
    except ImportError:
        faiss_version = "none"
    blas, omp = _threads()
    return (f"{_cpu_model()}|cpus={os.cpu_count()}|blas_threads={blas}|omp_threads={omp}|numpy={np.__version__}"
            f"|faiss={faiss_version}|d={dim}|{'top1' if k == 1 else 'topk'}")


def measure_engines(engines: Mapping[str, Callable], dim: int, k: int, repeats: int = 3,
                    shape: tuple[int, int] = CALIBRATION_SHAPE) -> dict[str, float]:
    """Best seconds of each engine on random unit vectors [shape] in R^dim (one warm-up, then interleaved)."""
    rng = np.random.default_rng(0)
    n, m = shape
    keys = rng.standard_normal((m, dim)).astype(np.float32)
    queries = rng.standard_normal((n, dim)).astype(np.float32)
    keys /= np.linalg.norm(keys, axis=1, keepdims=True)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    kk = 1 if k == 1 else min(CALIBRATION_K, m)
    best = {name: float("inf") for name in engines}
    for rep in range(repeats + 1):
        for name, fn in engines.items():
            t0 = time.perf_counter()
            fn(queries, keys, kk, 2048, 65536)
            if rep:  # rep 0 is the warm-up
                best[name] = min(best[name], time.perf_counter() - t0)
    return best


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}  # missing or unreadable: measure again and rewrite it


def cpu_engine(engines: Mapping[str, Callable], dim: int, k: int, flop: float) -> str:
    """Name of the CPU engine to use for a call of ``flop`` FLOP with vectors in R^dim and this k."""
    forced = os.environ.get("AMIPS_LABEL_BACKEND")
    if forced:
        if forced not in engines:
            raise InputError(f"AMIPS_LABEL_BACKEND={forced!r}: choose one of {', '.join(engines)}")
        return forced
    if flop < MIN_FLOP_TO_MEASURE:
        return DEFAULT_ENGINE if k == 1 else DEFAULT_TOPK_ENGINE
    key = machine_key(dim, k)
    path = cache_path()
    entry = _read_cache(path).get(key)
    if isinstance(entry, dict) and entry.get("engine") in engines:
        return entry["engine"]
    seconds = measure_engines(engines, dim, k)
    choice = min(seconds, key=seconds.get)
    cache = _read_cache(path)  # re-read: another process may have added entries meanwhile
    cache[key] = {"engine": choice, "seconds": seconds,
                  "measured": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    try:
        atomic_write_json(path, cache)
    except OSError as err:  # a read-only home: use the answer, measure again next time
        log.warning("could not write %s: %s", path, err)
    log.info("exact labels on this CPU: %s engine (%s)", choice,
             ", ".join(f"{name} {s:.3f} s" for name, s in seconds.items()))
    return choice
