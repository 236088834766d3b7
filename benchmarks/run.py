"""Run the amips benchmarks and write benchmarks.csv + benchmarks.png (+ machine.json, profiles).

    python benchmarks/run.py [--quick] [--only labels,memory,inference,training,pipeline] --out benchmarks/results/
    python benchmarks/run.py --results-md benchmarks/RESULTS.md   # also refresh the table in RESULTS.md

``--quick``: tiny sizes, a smoke test of every code path (< 20 s). Without it: the full sizes of the issue
(≈ 10–15 min on 2 cores; the memory benchmark writes two 1.5 GB files to a temporary directory and deletes them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python benchmarks/run.py` puts benchmarks/ (not the repo) on sys.path
    sys.path.insert(0, str(REPO))

BENCHMARKS = ("labels", "memory", "inference", "training", "pipeline")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test, < 20 s)")
    ap.add_argument("--only", default=",".join(BENCHMARKS),
                    help=f"comma-separated subset of {','.join(BENCHMARKS)} (default: all)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"), help="output directory")
    ap.add_argument("--threads", type=int, default=0, help="torch/BLAS threads (default: all cores)")
    ap.add_argument("--tmpdir", default=None, help="where the memory benchmark writes its big files")
    ap.add_argument("--results-md", default=None, help="also refresh the generated table in this RESULTS.md")
    args = ap.parse_args(argv)
    args.only = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = sorted(set(args.only) - set(BENCHMARKS))
    if unknown:
        ap.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import os

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(args.threads)
        except ImportError:
            pass
    from benchmarks import common, report
    from benchmarks.peak import fp32_peak

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    started = dt.datetime.now().astimezone()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s load {common.load_average():4.2f}] {msg}", flush=True)

    machine = common.machine_info()
    log(f"machine: {machine['cpu_model']} family {machine['cpu_family']} model {machine['cpu_model_id']}, "
        f"{machine['cores']} cores, avx512f={machine['avx512f']}; numpy BLAS: {machine['numpy_blas']}; "
        f"OPENBLAS_CORETYPE={machine['openblas_coretype_env']}")
    peak = fp32_peak(seconds=0.02 if args.quick else 0.2, repeats=1 if args.quick else 4)
    machine["fp32_peak"] = peak
    log(f"fp32 peak {peak['peak_gflops']:.0f} GFLOP/s ({peak['method']}); implied clock "
        f"{peak.get('implied_ghz') or float('nan'):.2f} GHz")

    from benchmarks import bench_labels

    rows = bench_labels.peak_rows(peak, args.quick)
    for name in args.only:
        log(f"--- {name}")
        if name == "labels":
            rows += bench_labels.run(args.quick, float(peak["peak_gflops"]), log=log)
        elif name == "memory":
            from benchmarks import bench_memory

            rows += bench_memory.run(args.quick, log=log, tmp_root=args.tmpdir)
        elif name == "inference":
            from benchmarks import bench_inference

            rows += bench_inference.run(args.quick, log=log)
        elif name == "training":
            from benchmarks import bench_training

            rows += bench_training.run(args.quick, out_dir=out, log=log)
        elif name == "pipeline":
            from benchmarks import bench_pipeline

            rows += bench_pipeline.run(args.quick, REPO, log=log)
    elapsed = time.perf_counter() - t0
    commit = report.git_commit(REPO)
    machine.update(started=started.isoformat(timespec="seconds"), seconds=elapsed, commit=commit,
                   quick=args.quick, only=args.only, load_average_end=os.getloadavg())
    report.write_csv(rows, out / "benchmarks.csv")
    report.write_machine(machine, out / "machine.json")
    title = (f"amips benchmarks{' (quick)' if args.quick else ''} — {machine['cpu_model']} ×{machine['cores']}, "
             f"{started:%Y-%m-%d %H:%M}, {commit}")
    report.write_plot(rows, out / "benchmarks.png", title)
    if args.results_md:
        header = (f"Measured {started:%Y-%m-%d %H:%M %Z} on {machine['cpu_model']} (family {machine['cpu_family']} "
                  f"model {machine['cpu_model_id']}), {machine['cores']} cores, avx512f={machine['avx512f']}; "
                  f"commit {commit}; torch {machine['torch']} ({machine['torch_threads']} threads), numpy "
                  f"{machine['numpy']} BLAS {machine['numpy_blas']}; OPENBLAS_CORETYPE="
                  f"{machine['openblas_coretype_env']}; fp32 peak {peak['peak_gflops']:.0f} GFLOP/s "
                  f"({peak['method']}); {'quick' if args.quick else 'full'} run, {elapsed / 60:.1f} min. "
                  f"load1 = 1-minute load average during the case (2 cores: > 2 means other jobs competed).")
        report.update_results_md(Path(args.results_md), rows, header)
    met = [r for r in rows if r.met in ("yes", "no")]
    log(f"done in {elapsed:.0f} s: {sum(r.met == 'yes' for r in met)}/{len(met)} targets met; "
        f"wrote {out / 'benchmarks.csv'} and {out / 'benchmarks.png'}")
    for r in met:
        log(f"  {r.met:3s} {r.benchmark} {r.case} {r.metric}: ratio {r.ratio:.3g} (target {r.target:g})")
    print(json.dumps({"csv": str(out / "benchmarks.csv"), "png": str(out / "benchmarks.png")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
