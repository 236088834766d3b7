"""Inference: KeyNet and SupportNet (+∇ via autograd) queries/s vs exact search at the same m.

Official architecture (depth 8, wx_inject 4, soft-leaky-ReLU, radial homogenization) at parameters_fraction
0.2 of m·d, m = 50k, d = 384. Candidates: ``KeyNet.predict`` under ``torch.inference_mode`` and
``SupportNet.predict`` (score + gradient key by autograd, as ``amips.evaluation.evaluate.predict`` calls it). Baseline:
``amips.exact.labels.exact_topk`` (numpy BLAS; the faster exact engine on this CPU, see bench_labels) on the same
queries. Batch 1 (a loop of single queries) and batch 1024; targets at batch 1024: KeyNet ≥ 4×,
SupportNet ≥ 2×. Everything is interleaved in one process, best of ``reps``. The full run measures with all
cores and again with 1 thread (torch and BLAS alike; see ``benchmarks.common.thread_counts``).
"""

from __future__ import annotations

import math

import torch

from benchmarks.common import (Row, interleaved_best, load_average, rate_row, thread_counts, threads_limited,
                               unit_vectors)

FULL = {"m": 50_000, "dim": 384, "batches": (1, 1024), "singles": (256, 48)}
QUICK = {"m": 5_000, "dim": 64, "batches": (1, 1024), "singles": (32, 16)}
TARGETS = {("keynet", 1024): 4.0, ("supportnet", 1024): 2.0}


def build(kind: str, dim: int, m: int, fraction: float = 0.2):
    from amips.models import ModelSpec, build_model

    spec = ModelSpec(kind=kind, parameters_fraction=fraction, depth=8, wx_inject=4)
    return build_model(spec, dim, m, seed=0).eval()


def matmul_flops(model: torch.nn.Module) -> float:
    """Forward FLOP per query of the network's weight matrices (2 per multiply-add)."""
    return float(sum(2 * p.numel() for p in model.parameters() if p.dim() == 2))


def run(quick: bool, reps: int | None = None, log=print) -> list[Row]:
    cfg = QUICK if quick else FULL
    m, dim = cfg["m"], cfg["dim"]
    reps = reps or (1 if quick else 3)
    keys = unit_vectors(m, dim, seed=1)
    models = {kind: build(kind, dim, m) for kind in ("keynet", "supportnet")}
    rows: list[Row] = []
    for threads in thread_counts(quick):
        with threads_limited(threads):
            rows += _measure(models, keys, cfg, reps, threads, log)
    return rows


def _measure(models: dict, keys, cfg: dict, reps: int, threads: int, log) -> list[Row]:
    from amips.exact.labels import exact_topk

    m, dim = cfg["m"], cfg["dim"]
    rows: list[Row] = []
    for batch in cfg["batches"]:
        queries_np = unit_vectors(max(batch, cfg["singles"][0]), dim, seed=3)
        queries_t = torch.from_numpy(queries_np)
        if batch == 1:
            n_model, n_exact = cfg["singles"]

            def model_fn(model, inference):
                def go():
                    ctx = torch.inference_mode() if inference else torch.no_grad()
                    with ctx:
                        for i in range(n_model):
                            model.predict(queries_t[i : i + 1])
                return go

            def exact_fn():
                for i in range(n_exact):
                    exact_topk(queries_np[i : i + 1], keys, 1)

            counts = {"keynet": n_model, "supportnet": n_model, "exact": n_exact}
        else:
            xb, qb = queries_t[:batch], queries_np[:batch]

            def model_fn(model, inference):
                def go():
                    ctx = torch.inference_mode() if inference else torch.no_grad()
                    with ctx:
                        model.predict(xb)
                return go

            def exact_fn():
                exact_topk(qb, keys, 1)

            counts = {"keynet": batch, "supportnet": batch, "exact": batch}
        funcs = {"keynet": model_fn(models["keynet"], True), "supportnet": model_fn(models["supportnet"], False),
                 "exact": exact_fn}
        load0 = load_average()
        best = interleaved_best(funcs, reps=reps if batch > 1 else max(1, reps - 1), warmup=1)
        load = max(load0, load_average())
        qps = {k: counts[k] / v for k, v in best.items()}
        for kind in ("keynet", "supportnet"):
            model = models[kind]
            flop_ratio = 2.0 * m * dim / matmul_flops(model)
            what = "forward" if kind == "keynet" else "forward + autograd gradient"
            rows.append(rate_row(
                "inference", f"{kind},batch={batch},threads={threads},m={m},d={dim}", "queries_per_s", qps[kind],
                qps["exact"], TARGETS.get((kind, batch), math.nan), unit="queries/s",
                baseline_name="exact_topk (numpy BLAS) same queries", load1=load,
                notes=(f"{what}; width {model.width}, {sum(p.numel() for p in model.parameters()):,} params; "
                       f"exact/forward FLOP ratio {flop_ratio:.1f}; {threads} thread(s) for torch and BLAS")))
        log(f"inference batch {batch}, {threads} threads: " + ", ".join(f"{k} {v:.0f} q/s" for k, v in qps.items())
            + f" (KeyNet {qps['keynet'] / qps['exact']:.2f}x, SupportNet {qps['supportnet'] / qps['exact']:.2f}x), "
              f"load {load}")
    return rows


if __name__ == "__main__":
    for row in run(quick=False):
        print(row)
