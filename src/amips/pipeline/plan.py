"""What a sweep will cost before it runs: the jobs per rule Snakemake would run, and an estimate of the wall time
from the benchmark records of earlier jobs on this machine (``results/benchmarks/<rule>/*.tsv``), stated as such.

The estimate is Σ_rule (jobs × mean recorded seconds of that rule) / cores — a rough upper bound on a machine as
loaded as when the records were made; rules with no record yet are named, not guessed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from amips.data.io import InputError
from amips.pipeline.work import BENCHMARKS, benchmark_record

__all__ = ["planned_jobs", "rule_seconds", "plan_lines"]

JOB_ROW = re.compile(r"^(\w+)\s+(\d+)$")
REPO = Path(__file__).resolve().parents[3]


def planned_jobs(configs: Sequence[str | Path], workdir: str | Path = ".", snakefile: str | Path | None = None,
                 timeout: float = 600) -> dict[str, int]:
    """{rule: jobs} that ``snakemake -n`` would run now in ``workdir`` for ``configs`` (``all`` left out)."""
    snakemake = Path(sys.executable).with_name("snakemake")
    snakefile = Path(snakefile) if snakefile is not None else REPO / "Snakefile"
    if not snakemake.exists() or not snakefile.is_file():
        raise InputError("planning a sweep needs snakemake and the workflow (a clone with `make setup`)")
    argv = [str(snakemake), "--snakefile", str(snakefile), "--configfile", *map(str, configs), "-n", "--quiet",
            "rules", "--cores", "1"]
    done = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise InputError(f"snakemake cannot plan the sweep: {last}")
    rows = (JOB_ROW.match(line.strip()) for line in (done.stdout + done.stderr).splitlines())
    return {m.group(1): int(m.group(2)) for m in rows if m and m.group(1) not in ("total", "all", "count")}


def rule_seconds(workdir: str | Path = ".") -> dict[str, tuple[float, int]]:
    """{rule: (mean wall seconds, records)} of the benchmark records under ``workdir``."""
    base = Path(workdir) / BENCHMARKS
    totals: dict[str, list[float]] = {}
    for path in sorted(base.rglob("*.tsv")) if base.is_dir() else []:
        totals.setdefault(path.relative_to(base).parts[0], []).append(benchmark_record(path)[0])
    return {rule: (sum(v) / len(v), len(v)) for rule, v in totals.items()}


def plan_lines(jobs: dict[str, int], seconds: dict[str, tuple[float, int]], cores: int) -> list[str]:
    """The report: jobs per rule (with the recorded mean where there is one) and the estimate."""
    lines = [f"plan: {sum(jobs.values())} jobs to run" + ("" if jobs else " (nothing to do)")]
    known = unknown = 0.0
    missing = []
    for rule, count in sorted(jobs.items(), key=lambda item: -item[1]):
        if rule in seconds:
            mean, records = seconds[rule]
            known += count * mean
            lines.append(f"  {rule:<28}{count:>5} jobs × {mean:7.1f} s (mean of {records} earlier)")
        else:
            missing.append(rule)
            unknown += count
            lines.append(f"  {rule:<28}{count:>5} jobs   (no earlier record)")
    if jobs:
        lines.append(f"estimate: about {known / max(cores, 1) / 60:.1f} min on {cores} cores for the recorded rules, "
                     "from this machine's benchmark records (as loaded as when they were made)"
                     + (f"; {int(unknown)} jobs of {', '.join(missing)} have no record yet" if missing else ""))
    return lines
