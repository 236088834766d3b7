"""The machine's fp32 peak: measured with an FMA throughput kernel, or estimated from the clock.

Method (measured): a C loop with 12 independent chains of 256-bit fused multiply-adds (``_mm256_fmadd_ps``;
8 lanes × 2 FLOP each) is compiled with the system C compiler and run on every core at once, one Python
thread per core calling it through ctypes (ctypes releases the GIL). 12 chains hide the FMA latency
(4 cycles) on both FMA pipes, so the loop runs at the core's FMA throughput. The best of a few short runs
is the peak. Rates are FLOP per *CPU second of each thread* (summed over the threads), so time slices
taken by other processes on a shared machine do not lower the figure; the wall-clock rate is kept too.
An AVX-512 variant is run too where the CPU has it and the better of the two is kept.

FLOP per cycle (for the implied clock, per-core rate / FLOP per cycle): two 256-bit FMA pipes give
2 × 8 × 2 = 32. With AVX-512 it depends on the core: Zen 4 splits 512-bit FMAs (still 32), while Intel server
cores with two 512-bit FMA units do 2 × 16 × 2 = 64 (one unit: 32). The kernel tells which: when the 512-bit
loop runs ≥ 1.5 × faster than the 256-bit one on one core, the core has two 512-bit units (64), else 32.

Fallback (no compiler): estimate = cores × FLOP per cycle × the nominal clock in /proc/cpuinfo, with 64 FLOP
per cycle for an Intel CPU with AVX-512 (most Xeon Gold/Platinum; an overestimate on one-unit parts) and 32
otherwise.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

_SOURCE = r"""
#include <immintrin.h>
#define CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
float fma256(long iters) {
#define DECL(i) __m256 a##i = _mm256_set1_ps(1.0f + 0.001f * i);
    CHAINS(DECL)
    const __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    for (long n = 0; n < iters; n++) {
#define STEP(i) a##i = _mm256_fmadd_ps(a##i, b, c);
        CHAINS(STEP)
    }
    __m256 s = _mm256_setzero_ps();
#define SUM(i) s = _mm256_add_ps(s, a##i);
    CHAINS(SUM)
    float out[8]; _mm256_storeu_ps(out, s);
    return out[0];
}
#ifdef __AVX512F__
float fma512(long iters) {
#define DECL5(i) __m512 a##i = _mm512_set1_ps(1.0f + 0.001f * i);
    CHAINS(DECL5)
    const __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
    for (long n = 0; n < iters; n++) {
#define STEP5(i) a##i = _mm512_fmadd_ps(a##i, b, c);
        CHAINS(STEP5)
    }
    __m512 s = _mm512_setzero_ps();
#define SUM5(i) s = _mm512_add_ps(s, a##i);
    CHAINS(SUM5)
    return _mm512_reduce_add_ps(s);
}
#endif
"""
_CHAINS = 12
_AVX2, _AVX512 = "avx2-fma 256-bit", "avx512 512-bit"


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _vendor() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _estimated_flop_per_cycle(flags: set[str]) -> int:
    """FLOP per cycle per core without measuring: 64 for Intel with AVX-512 (two 512-bit FMA units), else 32."""
    return 64 if "avx512f" in flags and _vendor() == "GenuineIntel" else 32


def measured_flop_per_cycle(variant: str, one_core: dict[str, float]) -> int:
    """FLOP per cycle of the winning kernel variant, from the one-core rates of both variants (GFLOP/s).

    256-bit: 32 (two FMA pipes × 8 lanes × 2). 512-bit: 64 when it beats the 256-bit loop by ≥ 1.5 ×
    (two full-width 512-bit units, Intel server cores), else 32 (Zen 4's split 512-bit FMAs, one-unit Intel).
    """
    if variant.startswith("avx512") and one_core.get(variant, 0.0) >= 1.5 * one_core.get(_AVX2, float("inf")):
        return 64
    return 32


def _nominal_ghz() -> float | None:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("cpu MHz"):
                    return float(line.split(":", 1)[1]) / 1000.0
    except (OSError, ValueError):
        pass
    return None


def _compile(workdir: Path, avx512: bool) -> ctypes.CDLL | None:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        return None
    src, lib = workdir / "fma.c", workdir / f"fma{'512' if avx512 else '256'}.so"
    src.write_text(_SOURCE)
    flags = ["-O2", "-mavx2", "-mfma", "-shared", "-fPIC"] + (["-mavx512f"] if avx512 else [])
    result = subprocess.run([cc, *flags, str(src), "-o", str(lib)], capture_output=True, text=True)
    if result.returncode != 0:
        return None
    return ctypes.CDLL(str(lib))


def _run_threads(fn, threads: int, iters: int) -> tuple[float, list[float]]:
    """(wall seconds, per-thread CPU seconds) for ``threads`` concurrent calls of fn(iters)."""
    cpu = [0.0] * threads

    def work(slot: int) -> None:
        t0 = time.thread_time()
        fn(iters)
        cpu[slot] = time.thread_time() - t0

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - t0, cpu


def _measure(fn, lanes: int, threads: int, seconds: float, repeats: int) -> tuple[float, float]:
    """Best (wall GFLOP/s, CPU-time GFLOP/s) of ``threads`` threads running the FMA loop ~``seconds`` each time.

    The CPU-time rate sums each thread's FLOP / its own CPU seconds: with one hardware thread per core it is
    the rate of ``threads`` cores even when other processes share the machine (time slices do not count).
    """
    flop_per_iter = _CHAINS * lanes * 2
    iters = 1_000_000
    while _run_threads(fn, 1, iters)[1][0] < 0.02:  # calibrate to ~seconds of CPU time
        iters *= 2
    iters = max(1, int(iters * seconds / 0.02))
    best_wall = best_cpu = 0.0
    for _ in range(repeats):
        wall, cpu = _run_threads(fn, threads, iters)
        best_wall = max(best_wall, threads * iters * flop_per_iter / wall / 1e9)
        best_cpu = max(best_cpu, sum(iters * flop_per_iter / max(c, 1e-9) for c in cpu) / 1e9)
    return best_wall, best_cpu


def fp32_peak(threads: int | None = None, seconds: float = 0.3, repeats: int = 5) -> dict[str, object]:
    """{'peak_gflops', 'per_core_gflops', 'implied_ghz', 'flop_per_cycle', 'method', 'estimate_gflops', ...}.

    ``estimate_gflops`` is the nominal-clock estimate (cores × FLOP per cycle × nominal GHz) for comparison.
    """
    threads = threads or os.cpu_count() or 1
    ghz = _nominal_ghz()
    flags = _cpu_flags()
    est_fpc = _estimated_flop_per_cycle(flags)
    estimate = threads * est_fpc * ghz if ghz else float("nan")
    out: dict[str, object] = {"threads": threads, "nominal_ghz": ghz, "estimate_gflops": estimate,
                              "estimate_flop_per_cycle": est_fpc}
    if not {"avx2", "fma"} <= flags:
        out.update(peak_gflops=estimate, method="estimate (no AVX2/FMA)", per_core_gflops=float("nan"),
                   implied_ghz=ghz, flop_per_cycle=est_fpc)
        return out
    with tempfile.TemporaryDirectory(prefix="amips-peak-") as tmp:
        variants = [(_AVX2, False, "fma256", 8)]
        if "avx512f" in flags:
            variants.append((_AVX512, True, "fma512", 16))
        results = {}
        for name, avx512, symbol, lanes in variants:
            lib = _compile(Path(tmp), avx512)
            if lib is None:
                continue
            fn = getattr(lib, symbol)
            fn.argtypes, fn.restype = [ctypes.c_long], ctypes.c_float
            single = _measure(fn, lanes, 1, seconds, max(2, repeats // 2))[1]
            wall, cpu = _measure(fn, lanes, threads, seconds, repeats)
            results[name] = (max(cpu, wall), single, wall)
    if not results:
        out.update(peak_gflops=estimate, method=f"estimate (no C compiler): cores x {est_fpc} FLOP/cycle x nominal "
                   "clock", per_core_gflops=float("nan"), implied_ghz=ghz, flop_per_cycle=est_fpc)
        return out
    name, (peak, single, wall) = max(results.items(), key=lambda kv: kv[1][0])
    fpc = measured_flop_per_cycle(name, {k: v[1] for k, v in results.items()})
    out.update(
        peak_gflops=peak, per_core_gflops=single, implied_ghz=single / fpc, flop_per_cycle=fpc, wall_gflops=wall,
        method=(f"measured: {_CHAINS} independent FMA chains ({name}) on {threads} threads, "
                f"FLOP per thread CPU-second summed over threads, best of {repeats}"),
        variants={k: {"all_cores_gflops": v[0], "one_core_gflops": v[1], "all_cores_wall_gflops": v[2]}
                  for k, v in results.items()},
    )
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(fp32_peak(), indent=2))
