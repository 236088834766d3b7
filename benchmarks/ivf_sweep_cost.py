"""Where the IVF sweeps of rule ivf_baselines and the IVF experiments spend their time (issue 19, item 6).

Times each part of the sweeps on a subset of a dataset's test queries, one thread, and prints one line per part
with the machine's load (os.getloadavg()[0]) before and after, so a reader can tell a quiet measurement from a
loaded one:

    .venv/bin/python benchmarks/ivf_sweep_cost.py results/wordnet50k --queries 512 [--skip-hnsw]

Parts: building the IVF index (k-means), the natural sweep per nprobe (one faiss call for all queries, and one call
per query at a few nprobes for comparison), the coarse-step search the sweep repeats for its coverage column, the
routed sweep of a router (search_preassigned, as the list routers and hybrid probing run it), exact search, and the
hnswlib / faiss HNSW builds and sweeps. Extrapolate linearly in the number of queries (every part but the builds is
linear in it).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def load() -> float:
    return os.getloadavg()[0]


def timed(label: str, fn):
    before = load()
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    print(f"{label:<52s} {seconds:9.3f} s   load {before:.2f} → {load():.2f}", flush=True)
    return out, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset_dir", help="results/<dataset> with data/keys.npy and labels/mips/")
    parser.add_argument("--queries", type=int, default=512)
    parser.add_argument("--single", type=int, default=64, help="queries timed one call each (at a few nprobes)")
    parser.add_argument("--skip-hnsw", action="store_true")
    parser.add_argument("--cap", type=int, default=64, help="report the share of each sweep's time at nprobe ≤ cap")
    args = parser.parse_args()

    import faiss

    from amips.index.ivf import build_ivf, nprobe_grid
    from amips.index.sweeps import exact_search_row, faiss_hnsw_sweep, hnsw_sweep
    from amips.routing.routed import centroids_of
    from amips.routing.routed import order_from_scores, preassigned_search

    faiss.omp_set_num_threads(1)
    root = Path(args.dataset_dir)
    keys = np.load(root / "data" / "keys.npy").astype(np.float32)
    queries = np.load(root / "labels" / "mips" / "test_queries.npy").astype(np.float32)
    top1 = np.load(root / "labels" / "mips" / "test_targets.npy")[:, 0]
    n_all = len(queries)
    queries, top1 = np.ascontiguousarray(queries[: args.queries]), top1[: args.queries]
    n = len(queries)
    print(f"m = {keys.shape[0]}, d = {keys.shape[1]}, {n} of {n_all} test queries, 1 thread, "
          f"{os.cpu_count()} cores, load {load():.2f}")

    ivf, build_s = timed("build_ivf (k-means + add)", lambda: build_ivf(keys))
    grid = nprobe_grid(ivf.nlist)
    index = ivf.index
    totals = {"batched search": 0.0, "coverage quantizer search": 0.0, "routed (preassigned) search": 0.0}
    capped = dict.fromkeys(totals, 0.0)
    order = order_from_scores(queries @ centroids_of(ivf).T)
    for nprobe in grid:
        index.nprobe = nprobe
        for name, label, call in (
                ("batched search", f"natural nprobe {nprobe:>3d}: one call, {n} queries",
                 lambda: index.search(queries, 10)),
                ("coverage quantizer search", "  coverage: quantizer.search again",
                 lambda: index.quantizer.search(queries, nprobe)),
                ("routed (preassigned) search", f"  routed nprobe {nprobe:>3d} (search_preassigned)",
                 lambda: preassigned_search(ivf, queries, order[:, :nprobe], 10))):
            _, s = timed(label, call)
            totals[name] += s
            capped[name] += s if nprobe <= args.cap else 0.0
        if nprobe in (1, 16, ivf.nlist):
            t0 = time.perf_counter()
            for q in queries[: args.single]:
                index.search(q[None], 10)
            per = (time.perf_counter() - t0) / args.single
            print(f"  one call per query: {1e3 * per:.3f} ms/query vs batched {1e3 * s / n:.3f} ms/query")
    _, exact_s = timed(f"exact_search_row ({n} queries)", lambda: exact_search_row(keys, queries, [1, 10]))
    hnsw_s = faiss_s = float("nan")
    if not args.skip_hnsw:
        ef = [8, 16, 32, 64, 128, 256]
        _, hnsw_s = timed("hnswlib build + sweep ef 8..256", lambda: hnsw_sweep(keys, queries, top1, ef, [1, 10]))
        _, faiss_s = timed("faiss HNSW build + build-FLOPs proxy + sweep",
                           lambda: faiss_hnsw_sweep(keys, queries, top1, ef, [1, 10]))

    scale = n_all / n
    print(f"\nfull grid {grid} of {ivf.nlist} lists; extrapolated to all {n_all} test queries (× {scale:.1f}):")
    for name, s in totals.items():
        print(f"  {name:<32s} {s * scale:8.1f} s; nprobe ≤ {args.cap}: {capped[name] * scale:8.1f} s "
              f"({capped[name] / max(s, 1e-12):.0%})")
    print(f"  {'exact search':<32s} {exact_s * scale:8.1f} s")
    print(f"  {'IVF build':<32s} {build_s:8.1f} s (not per query)")
    print(f"  HNSW (hnswlib / faiss, build dominated; measured on {n} queries): {hnsw_s:.1f} / {faiss_s:.1f} s")
    frac = [sum(ivf.list_sizes[np.argsort(-ivf.list_sizes)][:p]) / keys.shape[0] for p in grid]
    print("  share of the sweep's scan per nprobe (largest lists bound):",
          ", ".join(f"{p}: {f:.2f}" for p, f in zip(grid, frac)))
    print(f"load at the end {load():.2f}; {math.isqrt(keys.shape[0])} = ⌊√m⌋ lists")


if __name__ == "__main__":
    main()
