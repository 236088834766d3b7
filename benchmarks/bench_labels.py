"""Exact top-1 labels: amips.labels.exact_topk (numpy BLAS, chunked) vs faiss IndexFlatIP (k = 1).

Random unit keys and queries in R^384. Both engines run in this process on the same arrays, interleaved,
best of ``reps``; queries/s ratio target ≥ 1.0. GFLOP/s counts 2·m·d FLOP per query (the GEMM) and is
compared with the machine's fp32 peak (benchmarks.peak).
"""

from __future__ import annotations

import math
import time


from benchmarks.common import Row, interleaved_best, load_average, rate_row, unit_vectors

FULL_CASES = [(50_000, 8192), (500_000, 1024)]  # (m keys, n queries): each case ≈ 20-45 s on 2 cores
QUICK_CASES = [(20_000, 512)]
DIM, QUICK_DIM = 384, 64


def run(quick: bool, peak_gflops: float, reps: int | None = None, log=print) -> list[Row]:
    import faiss

    from amips.labels import exact_topk

    cases, dim = (QUICK_CASES, QUICK_DIM) if quick else (FULL_CASES, DIM)
    reps = reps or (1 if quick else 3)
    rows: list[Row] = []
    for m, n in cases:
        t0 = time.perf_counter()
        keys = unit_vectors(m, dim, seed=1)
        queries = unit_vectors(n, dim, seed=2)
        index = faiss.IndexFlatIP(dim)
        index.add(keys)
        out: dict[str, tuple] = {}

        def amips_fn():
            out["amips"] = exact_topk(queries, keys, 1)

        def faiss_fn():
            out["faiss"] = index.search(queries, 1)

        load0 = load_average()
        best = interleaved_best({"amips": amips_fn, "faiss": faiss_fn}, reps=reps, warmup=1)
        load = max(load0, load_average())
        qps = {k: n / v for k, v in best.items()}
        gflops = {k: 2.0 * m * dim * n / v / 1e9 for k, v in best.items()}
        agree = float((out["amips"][1][:, 0] == out["faiss"][1][:, 0]).mean())
        case = f"m={m},d={dim},n={n}"
        note = f"best of {reps} interleaved runs; faiss threads={faiss.omp_get_max_threads()}"
        rows += [
            rate_row("labels", case, "queries_per_s", qps["amips"], qps["faiss"], 1.0, unit="queries/s",
                     baseline_name="faiss IndexFlatIP k=1", load1=load, notes=note),
            rate_row("labels", case, "gflops", gflops["amips"], peak_gflops, unit="GFLOP/s",
                     baseline_name="fp32 peak (ratio = fraction of peak)", load1=load,
                     notes="2*m*d FLOP per query"),
            rate_row("labels", case, "faiss_gflops", gflops["faiss"], peak_gflops, unit="GFLOP/s",
                     baseline_name="fp32 peak (ratio = fraction of peak)", load1=load),
            Row("labels", case, "top1_agreement_with_faiss", agree, 1.0, agree, 0.999, unit="fraction",
                baseline_name="faiss", load1=load, notes="differences only at float near-ties"),
        ]
        log(f"labels {case}: amips {qps['amips']:.0f} q/s ({gflops['amips']:.0f} GFLOP/s), faiss {qps['faiss']:.0f} "
            f"q/s ({gflops['faiss']:.0f} GFLOP/s), ratio {qps['amips'] / qps['faiss']:.2f}, agree {agree:.4f}, "
            f"load {load}, {time.perf_counter() - t0:.0f} s")
        del keys, queries, index, out
    return rows


def peak_rows(peak: dict, quick: bool) -> list[Row]:
    """Rows describing the fp32 peak used for the fractions."""
    est = float(peak.get("estimate_gflops", math.nan))
    return [
        Row("machine", "fp32_peak", "gflops", float(peak["peak_gflops"]), est,
            float(peak["peak_gflops"]) / est if est == est else math.nan, unit="GFLOP/s",
            baseline_name="estimate: cores x 32 FLOP/cycle x nominal clock", notes=str(peak.get("method"))),
        rate_row("machine", "fp32_peak", "implied_clock_ghz", float(peak.get("implied_ghz") or math.nan),
                 float(peak.get("nominal_ghz") or math.nan), unit="GHz", baseline_name="nominal (/proc/cpuinfo)",
                 notes="per-core FMA rate / 32 FLOP per cycle"),
    ]
