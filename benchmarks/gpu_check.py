"""GPU check: CUDA labels = CPU labels, CUDA training of every model kind (determinism, speed, memory), labels at 1M.

    python benchmarks/gpu_check.py                 # on a CUDA machine (≈ 2–4 min on one modern GPU; < 8 min)
    python benchmarks/gpu_check.py --dry           # the same code paths on the CPU at tiny sizes (seconds)
    make gpu-check                                 # = the first line, writing benchmarks/results/gpu_check/

Checks, in order (each section is timed; the report says what passed):

1. **Labels**: ``exact_topk`` on CUDA (torch matmul blocks) vs the CPU engines (numpy, faiss) for k = 1 and
   k = 10, and ``per_cluster_top1``, on random unit vectors with duplicated keys (exact ties: the lowest index
   must win everywhere). Indices and exact scores must be bit-identical (amips.exact.order: cuBLAS float32 only
   proposes candidates; the order is decided by the same float64 re-scoring on every device).
2. **Training**: SupportNet, KeyNet and KeyNet-resnet, each trained twice with the same seed for ``--steps``
   steps on CUDA. Reported: whether the two EMA weight sets are bitwise identical (else the max abs
   difference), the final losses, steps/s, and peak GPU memory (``torch.cuda.max_memory_allocated``).
3. **Label speed**: exact top-1 (and top-10) of ``--label-queries`` queries over ``--label-keys`` (1M) keys
   in R^384 on CUDA: seconds, queries/s, GFLOP/s (2·m·d FLOP per query), key transfer included.

Writes ``gpu_check.json`` and ``gpu_check.md`` to ``--out``. Exit status 1 if a check fails, 2 if CUDA is
missing (without ``--dry``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

# cuBLAS needs this before CUDA is initialised to use deterministic workspaces (reproducible matmuls).
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

MODEL_KINDS = {
    "supportnet": {"kind": "supportnet", "depth": 4, "wx_inject": 2},
    "keynet": {"kind": "keynet", "depth": 4, "wx_inject": 2},
    "keynet_resnet": {"kind": "keynet", "depth": 4, "wx_inject": 2, "resnet": True},
}
FULL = {"dim": 384, "label_check_keys": 20_000, "label_check_queries": 4096, "clusters": 8,
        "train_keys": 50_000, "train_queries": 16_384, "steps": 300, "batch_size": 4096,
        "label_keys": 1_000_000, "label_queries": 16_384}
DRY = {"dim": 16, "label_check_keys": 2000, "label_check_queries": 256, "clusters": 4,
       "train_keys": 500, "train_queries": 512, "steps": 4, "batch_size": 64,
       "label_keys": 20_000, "label_queries": 512}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry", action="store_true", help="run on the CPU at tiny sizes (tests the script)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "gpu_check"), help="report directory")
    for key, value in FULL.items():
        ap.add_argument(f"--{key.replace('_', '-')}", type=int, default=None, help=f"default {value} (dry: {DRY[key]})")
    args = ap.parse_args(argv)
    sizes = DRY if args.dry else FULL
    for key, value in sizes.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def check_labels(args, device: str) -> dict:
    from amips.exact.clustering import kmeans
    from amips.exact.labels import CPU_ENGINES, exact_topk, per_cluster_top1

    rng = np.random.default_rng(0)
    base = unit(rng, args.label_check_keys // 4, args.dim)
    keys = np.concatenate([base, base[rng.integers(0, base.shape[0], args.label_check_keys - base.shape[0])]])
    keys = keys[rng.permutation(keys.shape[0])]  # ~3/4 of the rows duplicate another: many exact ties
    queries = np.concatenate([keys[: args.label_check_queries // 2],
                              unit(rng, args.label_check_queries - args.label_check_queries // 2, args.dim)])
    out: dict = {"keys": keys.shape[0], "queries": queries.shape[0], "dim": args.dim, "cases": []}
    for k in (1, 10):
        t0 = time.perf_counter()
        dev_s, dev_i = exact_topk(queries, keys, k, device=device, backend="torch")
        _sync(device)
        dev_seconds = time.perf_counter() - t0
        for engine in CPU_ENGINES:
            cpu_s, cpu_i = exact_topk(queries, keys, k, backend=engine)
            differing = int(((cpu_i != dev_i) | (cpu_s != dev_s)).any(axis=1).sum())
            out["cases"].append({"what": f"exact_topk k={k}", "cpu_engine": engine, "rows_differing": differing,
                                 "max_abs_score_diff": float(np.abs(cpu_s - dev_s).max()),
                                 "device_seconds": dev_seconds, "ok": differing == 0})
    clustering = kmeans(keys, args.clusters, seed=0)
    dev = per_cluster_top1(queries, keys, clustering.assignments, args.clusters, device=device, backend="torch")
    for engine in CPU_ENGINES:
        cpu = per_cluster_top1(queries, keys, clustering.assignments, args.clusters, backend=engine)
        differing = int((cpu != dev).any(axis=1).sum())
        out["cases"].append({"what": f"per_cluster_top1 C={args.clusters}", "cpu_engine": engine,
                             "rows_differing": differing, "ok": differing == 0})
    out["ok"] = all(c["ok"] for c in out["cases"])
    return out


def _train_once(kind: str, args, device: str, keys: np.ndarray, queries: np.ndarray, targets: np.ndarray):
    from amips.models import ModelSpec, build_model, parameter_count
    from amips.training.train import TrainData, TrainSpec, train_model

    spec = ModelSpec.from_dict(MODEL_KINDS[kind])
    model = build_model(spec, args.dim, keys.shape[0], seed=0)
    train_spec = TrainSpec(steps=args.steps, batch_size=args.batch_size, lr_peak=0.002828,
                           warmup_steps=max(1, args.steps // 20), log_every=max(1, args.steps // 4), select="last")
    data = TrainData(torch.from_numpy(queries), torch.from_numpy(targets), torch.from_numpy(keys))
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    _sync(device)
    t0 = time.perf_counter()
    result = train_model(model, data, train_spec, seed=0, device=device)
    _sync(device)
    seconds = time.perf_counter() - t0
    weights = {name: t.detach().cpu().clone() for name, t in result.ema_model.state_dict().items()}
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
    return {"seconds": seconds, "steps_per_s": args.steps / seconds, "final_loss": result.history[-1]["loss"],
            "num_parameters": parameter_count(result.ema_model), "peak_gpu_memory_mb": peak}, weights


def check_training(args, device: str) -> dict:
    from amips.exact.labels import exact_topk

    rng = np.random.default_rng(1)
    keys = unit(rng, args.train_keys, args.dim)
    queries = unit(rng, args.train_queries, args.dim)
    targets = exact_topk(queries, keys, 1, device=device)[1]
    out: dict = {"keys": keys.shape[0], "queries": queries.shape[0], "steps": args.steps,
                 "batch_size": args.batch_size, "models": {}}
    for kind in MODEL_KINDS:
        first, w1 = _train_once(kind, args, device, keys, queries, targets)
        second, w2 = _train_once(kind, args, device, keys, queries, targets)
        diff = max(float((w1[n].double() - w2[n].double()).abs().max()) for n in w1)
        identical = all(torch.equal(w1[n], w2[n]) for n in w1)
        finite = all(bool(torch.isfinite(t).all()) for t in w1.values())
        out["models"][kind] = {"run1": first, "run2": second, "identical": identical, "max_abs_weight_diff": diff,
                               "finite": finite, "ok": finite and np.isfinite(first["final_loss"])}
    out["ok"] = all(m["ok"] for m in out["models"].values())
    return out


def time_labels(args, device: str) -> dict:
    from amips.exact.labels import exact_topk

    rng = np.random.default_rng(2)
    keys = unit(rng, args.label_keys, args.dim)
    queries = unit(rng, args.label_queries, args.dim)
    out: dict = {"keys": keys.shape[0], "queries": queries.shape[0], "dim": args.dim, "cases": []}
    exact_topk(queries[:256], keys, 1, device=device, backend="torch")  # warm-up (CUDA context, cuBLAS handles)
    for k in (1, 10):
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        _sync(device)
        t0 = time.perf_counter()
        exact_topk(queries, keys, k, device=device, backend="torch")
        _sync(device)
        seconds = time.perf_counter() - t0
        out["cases"].append({
            "k": k, "seconds": seconds, "queries_per_s": queries.shape[0] / seconds,
            "gflops": 2.0 * keys.shape[0] * args.dim * queries.shape[0] / seconds / 1e9,
            "peak_gpu_memory_mb": torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None,
        })
    return out


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = [f"# GPU check ({'DRY RUN on the CPU — not a GPU measurement' if report['dry'] else env['device_name']})",
             "", f"{report['date']}; commit {report['commit']}; torch {env['torch']} (CUDA {env['cuda']}); "
             f"{report['seconds']:.0f} s in all; **{'PASSED' if report['ok'] else 'FAILED'}**.", "",
             "## Labels: device vs CPU (must be bit-identical)", "", "| check | CPU engine | rows differing | "
             "max abs score diff | ok |", "|---|---|---|---|---|"]
    for c in report["labels"]["cases"]:
        diff = f"{c['max_abs_score_diff']:.2e}" if "max_abs_score_diff" in c else "–"
        lines.append(f"| {c['what']} | {c['cpu_engine']} | {c['rows_differing']} | {diff} | {c['ok']} |")
    t = report["training"]
    lines += ["", f"## Training ({t['steps']} steps, batch {t['batch_size']}, m = {t['keys']}, d = "
              f"{report['labels']['dim']}; each model twice with seed 0)", "",
              "| model | parameters | steps/s (run 1, run 2) | final loss | identical runs | max abs weight diff | "
              "peak GPU MiB |", "|---|---|---|---|---|---|---|"]
    for kind, m in t["models"].items():
        peak = m["run1"]["peak_gpu_memory_mb"]
        lines.append(f"| {kind} | {m['run1']['num_parameters']:,} | {m['run1']['steps_per_s']:.1f}, "
                     f"{m['run2']['steps_per_s']:.1f} | {m['run1']['final_loss']:.4g} | {m['identical']} | "
                     f"{m['max_abs_weight_diff']:.2e} | {'–' if peak is None else f'{peak:.0f}'} |")
    s = report["label_speed"]
    lines += ["", f"## Label speed (m = {s['keys']:,}, n = {s['queries']:,}, d = {s['dim']})", "",
              "| k | seconds | queries/s | GFLOP/s | peak GPU MiB |", "|---|---|---|---|---|"]
    for c in s["cases"]:
        peak = c["peak_gpu_memory_mb"]
        lines.append(f"| {c['k']} | {c['seconds']:.3f} | {c['queries_per_s']:,.0f} | {c['gflops']:,.0f} | "
                     f"{'–' if peak is None else f'{peak:.0f}'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.dry and not torch.cuda.is_available():
        build = " (a CPU-only build: install a CUDA build of torch 2.13.0)" if torch.version.cuda is None else ""
        print(f"gpu_check: error: CUDA is not available to torch {torch.__version__}{build}; --dry runs the check "
              "on the CPU", file=sys.stderr)
        return 2
    from amips.data.io import atomic_write_json, atomic_write_text
    from benchmarks.report import git_commit

    device = "cpu" if args.dry else "cuda"
    t0 = time.perf_counter()
    report: dict = {
        "dry": args.dry, "device": device, "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": git_commit(REPO), "sizes": {k: getattr(args, k) for k in FULL},
        "environment": {"torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
                        "device_name": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor(),
                        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG")},
    }
    for name, fn in (("labels", check_labels), ("training", check_training), ("label_speed", time_labels)):
        start = time.perf_counter()
        report[name] = fn(args, device)
        report[name]["section_seconds"] = time.perf_counter() - start
        print(f"gpu_check: {name} done in {report[name]['section_seconds']:.1f} s", flush=True)
    report["seconds"] = time.perf_counter() - t0
    report["ok"] = bool(report["labels"]["ok"] and report["training"]["ok"])
    out = Path(args.out)
    atomic_write_json(out / "gpu_check.json", report)
    atomic_write_text(out / "gpu_check.md", markdown(report))
    print(f"gpu_check: {'PASSED' if report['ok'] else 'FAILED'} in {report['seconds']:.0f} s; wrote "
          f"{out / 'gpu_check.json'} and {out / 'gpu_check.md'}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
