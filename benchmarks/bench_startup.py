"""Startup of the command line: seconds from starting ``amips`` to its first stderr line, and to the one-line error
of a bad invocation, against ``python -c "import torch"`` measured in the same run.

    python benchmarks/bench_startup.py [--quick] [--reps N] [--out benchmarks/results/]

Every command checks its files from their headers before it imports torch (:mod:`amips.cli.preflight`) and logs
a first line naming them; before that, it spent an ``import torch`` (11 s of 18–26 s under load) before either.
Each round runs, one process after another (interleaved, so that a burst of load from other jobs hits every case
alike): ``python -c pass`` (the interpreter alone), ``python -c "import torch"`` (the baseline), ``amips fit --keys
K --queries Q --out M --steps 1`` (time to its first stderr line; the full run lets it finish and times that too,
--quick stops it there) and ``amips fit`` with queries of another dimension (time to its one-line error, exit 2).
Keys [2000, 32], queries [1000, 32] float32. Reported: the best of ``reps`` rounds (the least-disturbed run) with
the median in the notes, the ratio torch / case (how many times sooner than an ``import torch``) and the 1-minute
load average. Writes ``startup.csv`` (the columns of ``benchmarks.csv``) to ``--out``. Not a timed test: nothing
here fails on a slow machine; a command that does not behave (no first line, no error) does.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python benchmarks/bench_startup.py` puts benchmarks/ (not the repo) on sys.path
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.common import Row, cost_row, load_average  # noqa: E402

TORCH = 'python -c "import torch"'
NUM_KEYS, NUM_QUERIES, DIM = 2000, 1000, 32


def amips_command() -> list[str]:
    """The installed ``amips`` console script next to this interpreter, else the same entry point through -c."""
    script = Path(sys.executable).with_name("amips")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from amips.cli import main; sys.exit(main())"]


def _env() -> dict[str, str]:
    return {**os.environ, "AMIPS_DEBUG": "", "PYTHONUNBUFFERED": "1"}


def time_exit(argv: list[str]) -> float:
    """Seconds from starting ``argv`` to its exit (it must succeed)."""
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    return time.perf_counter() - t0


def time_first_line(argv: list[str], finish: bool) -> tuple[float, str, float | None]:
    """Seconds from starting ``argv`` to its first stderr line, that line, and (``finish``) the seconds to its
    successful exit; without ``finish`` the process is stopped once the line is read."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        line = proc.stderr.readline()
        first = time.perf_counter() - t0
        if not line:
            raise RuntimeError(f"{' '.join(argv)} printed nothing on stderr (exit {proc.wait()})")
        if not finish:
            return first, line.strip(), None
        rest = proc.stderr.read()
        if proc.wait() != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{line}{rest[-2000:]}")
        return first, line.strip(), time.perf_counter() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stderr.close()


def time_error(argv: list[str], expected: str) -> tuple[float, str]:
    """Seconds from starting ``argv`` to its exit with the one-line error that contains ``expected``."""
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=_env())
    seconds = time.perf_counter() - t0
    lines = done.stderr.strip().splitlines()
    if done.returncode != 2 or len(lines) != 1 or expected not in lines[0]:
        raise RuntimeError(f"{' '.join(argv)}: expected one error line with {expected!r}, got exit "
                           f"{done.returncode}:\n{done.stderr[-2000:]}")
    return seconds, lines[0]


def _make_inputs(root: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    paths = {"keys": root / "keys.npy", "queries": root / "queries.npy", "bad": root / "queries_d16.npy"}
    np.save(paths["keys"], rng.standard_normal((NUM_KEYS, DIM)).astype(np.float32))
    np.save(paths["queries"], rng.standard_normal((NUM_QUERIES, DIM)).astype(np.float32))
    np.save(paths["bad"], rng.standard_normal((NUM_QUERIES, DIM // 2)).astype(np.float32))
    return paths


def run(quick: bool, reps: int | None = None, log=print) -> list[Row]:
    """Rows of benchmark ``startup`` (see the module doc)."""
    reps = reps or (2 if quick else 5)
    amips = amips_command()
    times: dict[str, list[float]] = {"python": [], "torch": [], "first_line": [], "error": [], "finished": []}
    loads = [load_average()]
    with tempfile.TemporaryDirectory(prefix="amips-bench-startup-") as tmp:
        root = Path(tmp)
        paths = _make_inputs(root)
        for r in range(reps):
            out = root / f"model{r}.pt"
            fit = [*amips, "fit", "--keys", str(paths["keys"]), "--queries", str(paths["queries"]), "--out", str(out),
                   "--steps", "1", "--batch-size", "32", "--threads", "1"]
            bad = [*amips, "fit", "--keys", str(paths["keys"]), "--queries", str(paths["bad"]),
                   "--out", str(root / "never.pt")]
            times["python"].append(time_exit([sys.executable, "-c", "pass"]))
            times["torch"].append(time_exit([sys.executable, "-c", "import torch"]))
            first, line, finished = time_first_line(fit, finish=not quick)
            times["first_line"].append(first)
            if finished is not None:
                times["finished"].append(finished)
            seconds, error = time_error(bad, "has dimension 16 but the keys have dimension 32")
            times["error"].append(seconds)
            loads.append(load_average())
            log(f"startup round {r + 1}/{reps}: python {times['python'][-1]:.2f} s, import torch "
                f"{times['torch'][-1]:.2f} s, fit first line {first:.2f} s"
                + (f" (finished {finished:.1f} s)" if finished is not None else "")
                + f", argument error {seconds:.2f} s, load {loads[-1]}")
        log(f"first line: {line}\nerror: {error}")
    load = max(loads)
    best = {name: min(values) for name, values in times.items() if values}
    median = {name: statistics.median(values) for name, values in times.items() if values}

    def note(name: str) -> str:
        return (f"best of {reps} interleaved runs; median {median[name]:.3f} s (import torch median "
                f"{median['torch']:.3f} s); load {min(loads)}-{load}")

    torch_note = f"best of {reps}; median {median['torch']:.3f} s; what every command paid before its first line"
    rows = [
        Row("startup", "python -c pass", "wall_s", best["python"], unit="s", load1=load,
            notes=f"the interpreter alone; best of {reps}; median {median['python']:.3f} s"),
        Row("startup", TORCH, "wall_s", best["torch"], unit="s", load1=load, notes=torch_note),
        cost_row("startup", f"fit, keys [{NUM_KEYS}, {DIM}], queries [{NUM_QUERIES}, {DIM}]", "first_line_s",
                 best["first_line"], best["torch"], unit="s", baseline_name=TORCH, load1=load,
                 notes=note("first_line") + f"; the line: {line.split(' ', 1)[-1]}"),
        cost_row("startup", f"fit, queries of dimension {DIM // 2}", "argument_error_s", best["error"], best["torch"],
                 unit="s", baseline_name=TORCH, load1=load, notes=note("error") + f"; {error}"),
    ]
    if "finished" in best:
        rows.append(cost_row("startup", "fit --steps 1", "wall_s", best["finished"], best["torch"], unit="s",
                             baseline_name=TORCH, load1=load,
                             notes=note("finished") + "; the whole command: import torch, labels, 1 step, baselines"))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 rounds, fit stopped at its first line (< 30 s)")
    ap.add_argument("--reps", type=int, default=None, help="rounds (default: 2 with --quick, else 5)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"), help="output directory")
    args = ap.parse_args(argv)
    from benchmarks import report

    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s load {load_average():4.2f}] {msg}", flush=True)

    rows = run(args.quick, args.reps, log=log)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report.write_csv(rows, out / "startup.csv")
    for r in rows:
        ratio = f", ratio {r.ratio:.2f} ({TORCH} / this)" if r.baseline_name else ""
        log(f"  {r.case} {r.metric}: {r.value:.3f} s{ratio} (load {r.load1})")
    print(json.dumps({"csv": str(out / "startup.csv")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
