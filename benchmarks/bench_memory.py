"""Memory of exact labels for m = n = 1M (d = 384): float32 inputs on disk, memory-mapped.

The budget is "inputs + 1 GiB" (inputs = the two .npy files). A full 1M × 1M pass is ~8e14 FLOP (over an
hour on 2 cores), so the child process runs the real code path — ``amips.data.io.load_embeddings(mmap=True)``
(which also scans both files for NaN/Inf) and ``amips.exact.labels.exact_topk`` with the pipeline's default chunks
on *all* 1M keys — for a bounded number of query chunks. The working memory (one score block, the query chunk
and the outputs) is allocated in the first chunk, so the peak is reached there; later chunks only add the
[n, 1] outputs (12 bytes per query), which are added to the extrapolation.

Peak memory is measured two ways: the child's ``VmHWM`` / ``ru_maxrss`` (peak resident set, including the
memory-mapped file pages it touched) and a /proc sampler in the parent (every 20 ms: VmRSS, RssAnon,
RssFile). ``RssAnon`` is memory that is not a mapping of the input files, i.e. the true overhead.
The files go to a temporary directory (after checking free space with shutil.disk_usage) and are deleted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.common import Row, cost_row, load_average

GIB = 1024**3
FULL = {"m": 1_000_000, "n": 1_000_000, "dim": 384, "query_chunks": 2}
QUICK = {"m": 20_000, "n": 20_000, "dim": 64, "query_chunks": 2}
QUERY_CHUNK, KEY_CHUNK = 2048, 65536  # amips.pipeline.stages.labels.make_labels defaults


def write_unit_npy(path: Path, rows: int, dim: int, seed: int, block: int = 65536) -> None:
    """Random unit vectors straight to a .npy file, block by block (never the whole array in memory)."""
    rng = np.random.default_rng(seed)
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, dim))
    for start in range(0, rows, block):
        x = rng.standard_normal((min(block, rows - start), dim), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        arr[start : start + len(x)] = x
    arr.flush()
    del arr


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS/VmHWM/RssAnon/RssFile in bytes from /proc/<pid>/status ({} if gone)."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                    out[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return out


def child_main(argv: list[str]) -> None:
    """Child: memory-map, validate, label ``query_chunks`` chunks of queries against all keys; print JSON."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--query-chunks", type=int, required=True)
    ap.add_argument("--query-chunk", type=int, default=QUERY_CHUNK)
    ap.add_argument("--key-chunk", type=int, default=KEY_CHUNK)
    args = ap.parse_args(argv)
    from amips.data.io import load_embeddings
    from amips.exact.labels import exact_topk

    after_import = _proc_status(os.getpid())
    t0 = time.perf_counter()
    keys = load_embeddings(args.keys, "keys", mmap=True)
    queries = load_embeddings(args.queries, "queries", dim=keys.shape[1], mmap=True)
    t_load = time.perf_counter() - t0
    rows = min(queries.shape[0], args.query_chunks * args.query_chunk)
    t1 = time.perf_counter()
    scores, idx = exact_topk(queries[:rows], keys, 1, query_chunk=args.query_chunk, key_chunk=args.key_chunk)
    t_label = time.perf_counter() - t1
    status = _proc_status(os.getpid())
    print(json.dumps({
        "rows": rows, "num_keys": int(keys.shape[0]), "num_queries": int(queries.shape[0]),
        "dim": int(keys.shape[1]), "load_validate_s": t_load, "label_s": t_label,
        "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "status_end": status, "status_after_import": after_import, "checksum": int(idx.sum()),
        "is_memmap": isinstance(keys, np.memmap),
    }))


def _sample(pid: int, peaks: dict[str, int], stop: threading.Event, every: float = 0.02) -> None:
    while not stop.is_set():
        for key, value in _proc_status(pid).items():
            peaks[key] = max(peaks.get(key, 0), value)
        stop.wait(every)


def run(quick: bool, log=print, tmp_root: str | None = None) -> list[Row]:
    cfg = QUICK if quick else FULL
    m, n, dim, chunks = cfg["m"], cfg["n"], cfg["dim"], cfg["query_chunks"]
    case = f"m=n={m},d={dim}"
    file_bytes = 128 + m * dim * 4, 128 + n * dim * 4
    root = tmp_root or tempfile.gettempdir()
    free = shutil.disk_usage(root).free
    need = sum(file_bytes) + 2 * GIB
    if free < need:
        log(f"memory: skipped, {free / GIB:.1f} GiB free in {root}, need {need / GIB:.1f} GiB")
        return [Row("memory", case, "peak_rss_gib", math.nan, met="skipped",
                    notes=f"not enough disk: {free / GIB:.1f} GiB free in {root}, need {need / GIB:.1f}")]
    tmp = Path(tempfile.mkdtemp(prefix="amips-bench-mem-", dir=root))
    try:
        t0 = time.perf_counter()
        keys_path, queries_path = tmp / "keys.npy", tmp / "queries.npy"
        write_unit_npy(keys_path, m, dim, seed=1)
        write_unit_npy(queries_path, n, dim, seed=2)
        t_write = time.perf_counter() - t0
        inputs = keys_path.stat().st_size + queries_path.stat().st_size
        repo = Path(__file__).resolve().parents[1]
        cmd = [sys.executable, "-c", "import sys; from benchmarks.bench_memory import child_main; "
               "child_main(sys.argv[1:])", "--keys", str(keys_path), "--queries", str(queries_path),
               "--query-chunks", str(chunks)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))}
        load0 = load_average()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=repo)
        peaks: dict[str, int] = {}
        stop = threading.Event()
        sampler = threading.Thread(target=_sample, args=(proc.pid, peaks, stop), daemon=True)
        sampler.start()
        stdout, stderr = proc.communicate()
        stop.set()
        sampler.join()
        load = max(load0, load_average())
        if proc.returncode != 0:
            raise RuntimeError(f"memory child failed (rc {proc.returncode}): {stderr[-2000:]}")
        res = json.loads(stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    peak_rss = max(res["ru_maxrss"], res["status_end"].get("VmHWM", 0), peaks.get("VmRSS", 0))
    peak_anon = peaks.get("RssAnon", res["status_end"].get("RssAnon", 0))
    base_anon = res["status_after_import"].get("RssAnon", 0)
    budget = inputs + GIB
    rows_done, rate = res["rows"], res["rows"] / res["label_s"]
    # full job: validation scan + n / rate; the outputs for all n rows (scores float32 + indices int64) add 12 B/row
    full_s = res["load_validate_s"] + n / rate
    extra_out = (n - rows_done) * 12
    flops = 2.0 * rows_done * m * dim / res["label_s"] / 1e9
    note = (f"{rows_done} of {n} queries ({chunks} chunks of {QUERY_CHUNK}) x all {m} keys, key_chunk {KEY_CHUNK}; "
            f"inputs {inputs / GIB:.2f} GiB memory-mapped; files written in {t_write:.0f} s and deleted")
    log(f"memory {case}: peak RSS {peak_rss / GIB:.2f} GiB (budget {budget / GIB:.2f}), anon {peak_anon / GIB:.2f} GiB "
        f"(after imports {base_anon / GIB:.2f}), {rate:.0f} q/s = {flops:.0f} GFLOP/s, "
        f"full job ≈ {full_s / 60:.0f} min, "
        f"load {load}")
    return [
        cost_row("memory", case, "peak_rss_gib", peak_rss / GIB, budget / GIB, 1.0, unit="GiB",
                 baseline_name="budget: inputs + 1 GiB (ratio = budget / peak)", load1=load, notes=note),
        cost_row("memory", case, "peak_rss_gib_full_job_est", (peak_rss + extra_out) / GIB, budget / GIB, 1.0,
                 unit="GiB", baseline_name="budget: inputs + 1 GiB",
                 notes="measured peak + outputs of the remaining rows (12 B/row)", load1=load),
        cost_row("memory", case, "peak_anon_gib", peak_anon / GIB, 1.0, 1.0, unit="GiB",
                 baseline_name="1 GiB (working memory beyond the mapped inputs, incl. Python+torch)", load1=load,
                 notes=f"anonymous RSS after imports: {base_anon / GIB:.2f} GiB; sampled every 20 ms"),
        Row("memory", case, "label_queries_per_s", rate, unit="queries/s", load1=load,
            notes=f"{flops:.0f} GFLOP/s over memory-mapped keys"),
        Row("memory", case, "full_job_wall_s_est", full_s, unit="s", load1=load,
            notes=f"validation scan {res['load_validate_s']:.1f} s + {n} queries at the measured rate "
                  f"(≈ {full_s / 60:.0f} min)"),
    ]
