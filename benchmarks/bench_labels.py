"""Exact labels: amips.exact.labels (backend 'auto') vs faiss IndexFlatIP, top-1, top-k and per-cluster top-1.

Random unit keys and queries in R^384. Both run in this process on the same arrays, interleaved, best of
``reps``; queries/s ratio target ≥ 1.0. amips' 'auto' backend uses the CPU engine measured fastest on this
machine (amips.exact.label_backend: numpy BLAS tiles or faiss.knn with amips' tie rule, cached per machine); the
engine and its calibration timings are in the notes. GFLOP/s counts 2·m·d FLOP per query (the GEMM) and is
compared with the machine's fp32 peak (benchmarks.peak). Per-cluster top-1 (router targets): amips
``per_cluster_top1`` vs one prebuilt faiss IndexFlatIP per cluster (random assignment to C clusters).

The cost of the exact order (amips.exact.order: float32 candidates within the error margin, re-scored in float64) is
measured on the top-1 cases against the float32 path it replaced (:func:`float32_top1`: the same GEMM tiles reduced
by argmax alone, whose labels depend on the BLAS kernel), in the same process; target: ≤ 5 % slower (ratio ≥ 0.95).
"""

from __future__ import annotations

import json
import math
import time

import numpy as np

from benchmarks.common import Row, interleaved_best, load_average, rate_row, unit_vectors

# (kind, m keys, n queries, k or number of clusters): each case ≈ 20-60 s on 2 busy cores
FULL_CASES = [("top1", 50_000, 8192, 1), ("top1", 500_000, 1024, 1), ("topk", 200_000, 1024, 10),
              ("clusters", 200_000, 2048, 16)]
QUICK_CASES = [("top1", 20_000, 512, 1), ("topk", 20_000, 256, 10), ("clusters", 20_000, 256, 4)]
DIM, QUICK_DIM = 384, 64


def _engine_note(dim: int, k: int) -> str:
    """Which CPU engine 'auto' used for this d and k (from the per-machine cache), with its timings."""
    from amips.exact import label_backend
    try:
        entry = json.loads(label_backend.cache_path().read_text()).get(label_backend.machine_key(dim, k), {})
    except (OSError, ValueError):
        entry = {}
    if not entry:
        default = label_backend.DEFAULT_ENGINE if k == 1 else label_backend.DEFAULT_TOPK_ENGINE
        return f"engine {default} (below the measuring threshold)"
    timings = ", ".join(f"{name} {s:.3f} s" for name, s in sorted(entry.get("seconds", {}).items()))
    return f"engine {entry.get('engine')} (calibration: {timings})"


def float32_top1(queries: np.ndarray, keys: np.ndarray, query_chunk: int = 2048, tile: int = 4096) -> np.ndarray:
    """The float32 path before the exact order: GEMM tiles of the numpy engine, argmax per tile, strict merge."""
    n = queries.shape[0]
    out = np.empty(n, np.int64)
    buffer = np.empty(min(n, query_chunk) * min(keys.shape[0], tile), np.float32)
    for qs in range(0, n, query_chunk):
        q = queries[qs : qs + query_chunk]
        best_s = np.full(q.shape[0], -np.inf, np.float32)
        best_i = np.zeros(q.shape[0], np.int64)
        for ts in range(0, keys.shape[0], tile):
            part = keys[ts : ts + tile]
            block = buffer[: q.shape[0] * part.shape[0]].reshape(q.shape[0], part.shape[0])
            np.matmul(q, part.T, out=block)
            idx = block.argmax(axis=1)
            vals = block[np.arange(q.shape[0]), idx]
            better = vals > best_s
            best_s[better], best_i[better] = vals[better], idx[better] + ts
        out[qs : qs + query_chunk] = best_i
    return out


def exact_order_rows(case: str, queries: np.ndarray, keys: np.ndarray, reps: int, log=print) -> list[Row]:
    """Top-1 labels: exact order (numpy engine) vs the float32 path it replaced, interleaved in this process."""
    from amips.exact.labels import exact_topk

    out: dict[str, np.ndarray] = {}

    def exact_fn():
        out["exact"] = exact_topk(queries, keys, 1, backend="numpy")[1][:, 0]

    def float32_fn():
        out["float32"] = float32_top1(queries, keys)

    load0 = load_average()
    best = interleaved_best({"exact": exact_fn, "float32": float32_fn}, reps=reps, warmup=1)
    load = max(load0, load_average())
    n = queries.shape[0]
    agree = float((out["exact"] == out["float32"]).mean())
    log(f"labels {case}: exact order {n / best['exact']:.0f} q/s vs float32 path {n / best['float32']:.0f} q/s "
        f"(ratio {best['float32'] / best['exact']:.3f}), top-1 agreement {agree:.5f}, load {load}")
    return [
        rate_row("labels", case, "exact_order_queries_per_s", n / best["exact"], n / best["float32"], 0.95,
                 unit="queries/s", baseline_name="float32 GEMM tiles + argmax (numpy engine before the exact order)",
                 load1=load, notes=f"best of {reps} interleaved runs; both numpy engine, tiles 2048 x 4096"),
        Row("labels", case, "exact_vs_float32_top1_agreement", agree, 1.0, agree, unit="fraction",
            baseline_name="float32 path", load1=load,
            notes="differences only where float32 cannot order near-ties or exact duplicates"),
    ]


def run(quick: bool, peak_gflops: float, reps: int | None = None, log=print) -> list[Row]:
    import faiss

    from amips.exact.labels import exact_topk, per_cluster_top1

    cases, dim = (QUICK_CASES, QUICK_DIM) if quick else (FULL_CASES, DIM)
    reps = reps or (1 if quick else 3)
    rows: list[Row] = []
    for kind, m, n, k in cases:
        t0 = time.perf_counter()
        keys = unit_vectors(m, dim, seed=1)
        queries = unit_vectors(n, dim, seed=2)
        out: dict[str, np.ndarray] = {}
        if kind == "clusters":
            assignments = np.random.default_rng(3).integers(0, k, m)
            members = [np.flatnonzero(assignments == c) for c in range(k)]
            indexes = []
            for idx in members:
                index = faiss.IndexFlatIP(dim)
                index.add(keys[idx])
                indexes.append(index)

            def amips_fn():
                out["amips"] = per_cluster_top1(queries, keys, assignments, k)

            def faiss_fn():
                out["faiss"] = np.stack([idx[index.search(queries, 1)[1][:, 0]]
                                         for idx, index in zip(members, indexes)], axis=1)

            case = f"per-cluster top1,C={k},m={m},d={dim},n={n}"
            baseline_name = f"faiss IndexFlatIP per cluster (C={k}) k=1"
            engine_k = 1
        else:
            index = faiss.IndexFlatIP(dim)
            index.add(keys)

            def amips_fn():
                out["amips"] = exact_topk(queries, keys, k)[1]

            def faiss_fn():
                out["faiss"] = index.search(queries, k)[1]

            case = f"m={m},d={dim},n={n}" + (f",k={k}" if k > 1 else "")
            baseline_name = f"faiss IndexFlatIP k={k}"
            engine_k = k
        load0 = load_average()
        best = interleaved_best({"amips": amips_fn, "faiss": faiss_fn}, reps=reps, warmup=1)
        load = max(load0, load_average())
        qps = {name: n / v for name, v in best.items()}
        gflops = {name: 2.0 * m * dim * n / v / 1e9 for name, v in best.items()}
        agree = float((out["amips"] == out["faiss"]).all(axis=1).mean())
        metric = {"top1": "top1_agreement_with_faiss", "topk": "topk_agreement_with_faiss",
                  "clusters": "cluster_top1_agreement_with_faiss"}[kind]
        note = (f"best of {reps} interleaved runs; faiss threads={faiss.omp_get_max_threads()}; "
                f"{_engine_note(dim, engine_k)}")
        rows += [
            rate_row("labels", case, "queries_per_s", qps["amips"], qps["faiss"], 1.0, unit="queries/s",
                     baseline_name=baseline_name, load1=load, notes=note),
            rate_row("labels", case, "gflops", gflops["amips"], peak_gflops, unit="GFLOP/s",
                     baseline_name="fp32 peak (ratio = fraction of peak)", load1=load,
                     notes="2*m*d FLOP per query"),
            rate_row("labels", case, "faiss_gflops", gflops["faiss"], peak_gflops, unit="GFLOP/s",
                     baseline_name="fp32 peak (ratio = fraction of peak)", load1=load),
            Row("labels", case, metric, agree, 1.0, agree, 0.999, unit="fraction",
                baseline_name="faiss", load1=load, notes="rows with identical indices; differences only at float "
                "near-ties (or exact ties, which faiss orders differently for k > 1)"),
        ]
        log(f"labels {case}: amips {qps['amips']:.0f} q/s ({gflops['amips']:.0f} GFLOP/s), faiss {qps['faiss']:.0f} "
            f"q/s ({gflops['faiss']:.0f} GFLOP/s), ratio {qps['amips'] / qps['faiss']:.2f}, agree {agree:.4f}, "
            f"load {load}, {time.perf_counter() - t0:.0f} s; {note}")
        if kind == "top1":
            rows += exact_order_rows(case, queries, keys, reps, log)
        del keys, queries, out
    return rows


def peak_rows(peak: dict, quick: bool) -> list[Row]:
    """Rows describing the fp32 peak used for the fractions."""
    est = float(peak.get("estimate_gflops", math.nan))
    fpc = peak.get("flop_per_cycle", "?")
    return [
        Row("machine", "fp32_peak", "gflops", float(peak["peak_gflops"]), est,
            float(peak["peak_gflops"]) / est if est == est else math.nan, unit="GFLOP/s",
            baseline_name=f"estimate: cores x {peak.get('estimate_flop_per_cycle', '?')} FLOP/cycle x nominal clock",
            notes=str(peak.get("method"))),
        rate_row("machine", "fp32_peak", "implied_clock_ghz", float(peak.get("implied_ghz") or math.nan),
                 float(peak.get("nominal_ghz") or math.nan), unit="GHz", baseline_name="nominal (/proc/cpuinfo)",
                 notes=f"per-core FMA rate / {fpc} FLOP per cycle (benchmarks.peak.measured_flop_per_cycle)"),
    ]
