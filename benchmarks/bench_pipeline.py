"""Wall time of the quick default pipeline, read from what Snakemake left behind (nothing is run here).

Sources (both optional):
* the newest *completed* run of the default target (its job stats include rule ``all``) in ``.snakemake/log/``
  ("N of N steps (100%) done", "Elapsed time"): wall time;
* the rules' benchmark files ``results/benchmarks/<rule>/…tsv`` of the default config's datasets (column ``s`` =
  job wall seconds), used only when every stage (make_dataset, exact_labels, train, evaluate) has its files: the
  sum over jobs (CPU-serial time) and the sum over rules of each rule's slowest job (an upper bound of the
  critical path, since the default DAG is the chain make_dataset → exact_labels → train → evaluate → aggregate).
If neither exists the row says "not run".
"""

from __future__ import annotations

import csv
import math
import re
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

from benchmarks.common import Row

README_WALL_S = 5 * 60 + 9  # README: "the default pipeline (41 jobs …) takes 5 min 9 s"


def default_config_names(repo: Path) -> set[str] | None:
    """Dataset names and figure name of the default ``config.yaml`` (to pick its jobs' benchmark files)."""
    try:
        import yaml

        cfg = yaml.safe_load((repo / "config.yaml").read_text())
        return {str(d) for d in cfg["sweep"]["datasets"]} | {str(cfg.get("name", "")), "aggregate"}
    except Exception:  # no or unusual config: take every file
        return None


def read_benchmark_tsvs(root: Path, names: set[str] | None = None) -> dict[str, list[float]]:
    """{rule: [job seconds]} from ``root/<rule>/**/*.tsv``; with ``names``, only files whose path names one."""
    out: dict[str, list[float]] = defaultdict(list)
    if not root.is_dir():
        return {}
    for path in sorted(root.rglob("*.tsv")):
        parts = path.relative_to(root).with_suffix("").parts
        rule = parts[0]
        if names is not None and not names & set(parts[1:]):
            continue
        try:
            with path.open() as fh:
                rows = list(csv.DictReader(fh, delimiter="\t"))
            out[rule] += [float(r["s"]) for r in rows if r.get("s") not in (None, "", "NA")][:1]
        except (OSError, ValueError, KeyError):
            continue
    return dict(out)


def _parse_elapsed(text: str) -> float | None:
    match = re.search(r"Elapsed time:\s*(?:(\d+) days?, )?(\d+):(\d+):(\d+(?:\.\d+)?)", text)
    if not match:
        return None
    days, h, m, s = match.groups()
    return timedelta(days=int(days or 0), hours=int(h), minutes=int(m), seconds=float(s)).total_seconds()


def latest_complete_run(log_dir: Path) -> dict[str, object] | None:
    """Newest ``.snakemake/log`` run that finished all its steps: {log, wall_s, steps, jobs}."""
    if not log_dir.is_dir():
        return None
    for path in sorted(log_dir.glob("*.snakemake.log"), reverse=True):
        text = path.read_text(errors="replace")
        done = re.findall(r"(\d+) of (\d+) steps \(100%\) done", text)
        wall = _parse_elapsed(text)
        if not done or wall is None:
            continue
        jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", text.split("Job stats:", 1)[1].split("Select jobs", 1)[0], re.M)) \
            if "Job stats:" in text else {}
        if "all" not in jobs:  # not a run of the default target (e.g. `snakemake benchmarks`)
            continue
        return {"log": path.name, "wall_s": wall, "steps": int(done[-1][1]), "jobs": jobs}
    return None


def run(quick: bool, repo: Path, log=print) -> list[Row]:
    tsvs = read_benchmark_tsvs(repo / "results" / "benchmarks", default_config_names(repo))
    last = latest_complete_run(repo / ".snakemake" / "log")
    rows: list[Row] = []
    case = "default config"
    if last is not None:
        jobs = ", ".join(f"{k} {v}" for k, v in last["jobs"].items() if k not in ("total",))
        rows.append(Row("pipeline", case, "wall_s", float(last["wall_s"]), README_WALL_S,
                        README_WALL_S / float(last["wall_s"]), unit="s", baseline_name="README figure (5 min 9 s)",
                        load1=math.nan, notes=f".snakemake/log/{last['log']}: {last['steps']} steps ({jobs})"))
    needed = {"make_dataset", "exact_labels", "train", "evaluate"}
    if tsvs and not needed <= set(tsvs):
        log(f"pipeline: results/benchmarks/ holds only {sorted(tsvs)} for the default config; not summed")
        for row in rows:
            row.notes += f"; results/benchmarks/ incomplete (only {', '.join(sorted(tsvs))}), not summed"
        tsvs = {}
    if tsvs:
        total = sum(sum(v) for v in tsvs.values())
        critical = sum(max(v) for v in tsvs.values())
        per_rule = "; ".join(f"{k} {len(v)} jobs sum {sum(v):.0f} s max {max(v):.1f} s"
                             for k, v in sorted(tsvs.items()))
        rows += [
            Row("pipeline", case, "sum_job_s", total, unit="s", load1=math.nan,
                notes=f"results/benchmarks/*: {per_rule}"),
            Row("pipeline", case, "critical_path_s_upper", critical, unit="s", load1=math.nan,
                notes="sum over rules of the slowest job"),
        ]
    if not rows:
        rows.append(Row("pipeline", case, "wall_s", math.nan, met="not run", load1=math.nan,
                        notes="no results/benchmarks/*.tsv and no completed run in .snakemake/log"))
    log("pipeline: " + "; ".join(f"{r.metric} {r.value:.0f} s" if r.value == r.value else f"{r.metric} not run"
                                 for r in rows))
    return rows
