"""Shared pieces: result rows, interleaved best-of-N timing, load average, machine and BLAS facts."""

from __future__ import annotations

import math
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

#: CSV columns, in order (the first eight are the contract; the rest are context).
COLUMNS = ["benchmark", "case", "metric", "value", "baseline", "ratio", "target", "met",
           "unit", "baseline_name", "load1", "notes"]


@dataclass
class Row:
    """One measured figure.

    ``ratio`` is always "higher is better": candidate/baseline for rates (queries/s, GFLOP/s),
    baseline/candidate for costs (seconds, bytes). ``met`` is "yes"/"no" when there is a ``target``
    (ratio ≥ target), "" when there is none, "skipped" when the case could not run.
    """

    benchmark: str
    case: str
    metric: str
    value: float
    baseline: float = math.nan
    ratio: float = math.nan
    target: float = math.nan
    met: str = ""
    unit: str = ""
    baseline_name: str = ""
    load1: float = field(default_factory=lambda: load_average())
    notes: str = ""

    def __post_init__(self) -> None:
        if self.met == "" and not math.isnan(self.target) and not math.isnan(self.ratio):
            self.met = "yes" if self.ratio >= self.target else "no"

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items()}


def rate_row(benchmark: str, case: str, metric: str, value: float, baseline: float, target: float = math.nan,
             **kw) -> Row:
    """Row for a higher-is-better quantity (ratio = value / baseline)."""
    ratio = value / baseline if baseline and not math.isnan(baseline) else math.nan
    return Row(benchmark, case, metric, value, baseline, ratio, target, **kw)


def cost_row(benchmark: str, case: str, metric: str, value: float, baseline: float, target: float = math.nan,
             **kw) -> Row:
    """Row for a lower-is-better quantity (ratio = baseline / value, so ≥ 1 means within budget/faster)."""
    ratio = baseline / value if value and not math.isnan(value) else math.nan
    return Row(benchmark, case, metric, value, baseline, ratio, target, **kw)


def load_average() -> float:
    """1-minute load average (NaN where unavailable)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return math.nan


def interleaved_best(funcs: dict[str, Callable[[], object]], reps: int, warmup: int = 1) -> dict[str, float]:
    """Best (minimum) wall time in seconds of each callable over ``reps`` rounds.

    The callables run alternately within each round (A, B, A, B, …) so that a burst of load from other
    processes hits candidate and baseline alike; the minimum is the least-disturbed run.
    """
    for _ in range(warmup):
        for fn in funcs.values():
            fn()
    best = {name: math.inf for name in funcs}
    for _ in range(reps):
        for name, fn in funcs.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


class threads_limited:
    """Context manager: torch intra-op threads and every BLAS/OpenMP pool (threadpoolctl) set to ``n``."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> "threads_limited":
        import torch

        self.saved = torch.get_num_threads()
        torch.set_num_threads(self.n)
        try:
            from threadpoolctl import threadpool_limits

            self.limits = threadpool_limits(self.n)
        except ImportError:
            self.limits = None
        return self

    def __exit__(self, *exc) -> None:
        import torch

        if self.limits is not None:
            self.limits.restore_original_limits()
        torch.set_num_threads(self.saved)


def thread_counts(quick: bool) -> list[int]:
    """All cores (the default) and, on the full run of a multi-core machine, also 1 thread.

    With 2 OpenMP threads on 2 cores, any other busy process stalls every parallel region (each op waits for the
    descheduled thread), so a shared machine's 2-thread figures can be several times below its 1-thread ones.
    """
    import torch

    full = torch.get_num_threads()
    return [full] if quick or full == 1 else [full, 1]


def unit_vectors(n: int, d: int, seed: int) -> np.ndarray:
    """n random unit vectors in R^d, float32 (isotropic: the worst case for approximate search)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def blas_info() -> list[dict[str, object]]:
    """threadpoolctl's view of the loaded BLAS/OpenMP libraries (numpy's OpenBLAS kernel, faiss', torch's)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"error": "threadpoolctl not installed"}]
    keep = ("user_api", "internal_api", "prefix", "version", "architecture", "threading_layer", "num_threads",
            "filepath")
    return [{k: info.get(k) for k in keep} for info in threadpool_info()]


def numpy_blas_kernel() -> str:
    """'OpenBLAS <version> <architecture>' of numpy's BLAS (the exact-label engine on CPU)."""
    for info in blas_info():
        path = str(info.get("filepath") or "")
        if info.get("user_api") == "blas" and ("numpy" in path or "scipy_openblas" in str(info.get("prefix"))):
            return f"{info.get('internal_api')} {info.get('version')} kernel={info.get('architecture')}"
    return "unknown"


def machine_info() -> dict[str, object]:
    """CPU model, cores, flags relevant to the FLOP peak, versions and BLAS kernels."""
    import torch

    cpu: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if ":" in line:
                    key, value = (s.strip() for s in line.split(":", 1))
                    cpu.setdefault(key, value)
    except OSError:
        pass
    flags = set(cpu.get("flags", "").split())
    return {
        "cpu_model": cpu.get("model name", platform.processor()),
        "cpu_family": cpu.get("cpu family"), "cpu_model_id": cpu.get("model"),
        "cores": os.cpu_count(),
        "nominal_mhz": float(cpu["cpu MHz"]) if "cpu MHz" in cpu else None,
        "avx2": "avx2" in flags, "fma": "fma" in flags, "avx512f": "avx512f" in flags,
        "python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE"),
        "numpy_blas": numpy_blas_kernel(),
        "threadpools": blas_info(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def fmt(value: float, digits: int = 3) -> str:
    """Compact number for tables: NaN → '–'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"
