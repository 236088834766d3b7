"""The work behind a run's results: the Snakemake benchmark records (``results/benchmarks/<rule>/<job>.tsv``) of
the jobs whose outputs the run's tables and figures are made of, whenever and under whichever run name they ran.

A job belongs to the run when its key (the benchmark path below the rule) is the run name (or below it), or starts
with one of the run's datasets — and, for a job of one trained run (``dataset/task/model/…/seed<s>``, with or without
the task), names one of the config's sweep runs. A shared dataset's training for another config is left out; its
labels and baselines, which this run uses, are counted.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from amips.pipeline import targets
from amips.pipeline.paths import run_key
from amips.pipeline.run_names import run_datasets

__all__ = ["BENCHMARKS", "benchmark_record", "run_work"]

BENCHMARKS = Path("results") / "benchmarks"
RUN_KEY_DEPTH = 6  # dataset/task/model/homogenization/frac<f>/seed<s>


def _runs(config: dict[str, Any]) -> set[str]:
    """The keys of every trained run of the config, with and without the task."""
    keys = set()
    for task in ("mips", "router"):
        for run in targets.sweep_runs(config, task):
            fields = {k: v for k, v in run.items() if k != "task"}
            keys |= {run_key(**fields, task=task), run_key(**fields, task=None)}
    return keys


def _belongs(key: str, name: str, datasets: set[str], runs: set[str]) -> bool:
    parts = key.split("/")
    if key == name or key.startswith(f"{name}/"):
        return True
    if parts[0] not in datasets:
        return False
    trained = len(parts) >= RUN_KEY_DEPTH - 1 and parts[-1].startswith("seed") and parts[-2].startswith("frac")
    return not trained or "/".join(parts[-RUN_KEY_DEPTH:]) in runs or "/".join(parts[-RUN_KEY_DEPTH + 1:]) in runs


def benchmark_record(path: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one benchmark file (its first row); zeros for an unreadable one."""
    try:
        with path.open(encoding="utf-8") as handle:
            row = next(csv.DictReader(handle, delimiter="\t"))
        values = float(row["s"]), float(row.get("cpu_time") or 0.0)
    except (OSError, StopIteration, KeyError, ValueError, UnicodeDecodeError, csv.Error):
        return 0.0, 0.0
    return tuple(v if math.isfinite(v) else 0.0 for v in values)  # type: ignore[return-value]


def run_work(config: dict[str, Any], root: str | Path = ".") -> dict[str, Any]:
    """``{jobs, seconds, cpu_seconds, by_rule: {rule: seconds}}`` summed over the benchmark records under ``root``
    of the jobs that belong to the run of ``config`` (module docstring)."""
    base = Path(root) / BENCHMARKS
    name, datasets, runs = targets.run_name(config), set(run_datasets(config)), _runs(config)
    jobs, seconds, cpu, by_rule = 0, 0.0, 0.0, {}
    for path in sorted(base.rglob("*.tsv")) if base.is_dir() else []:
        rule, key = path.relative_to(base).parts[0], path.relative_to(base / path.relative_to(base).parts[0])
        if not path.is_file() or not _belongs(str(key.with_suffix("")), name, datasets, runs):
            continue
        wall, used = benchmark_record(path)
        jobs, seconds, cpu = jobs + 1, seconds + wall, cpu + used
        by_rule[rule] = round(by_rule.get(rule, 0.0) + wall, 2)
    return {"jobs": jobs, "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1), "by_rule": by_rule}
