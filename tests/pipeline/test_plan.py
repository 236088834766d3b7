"""check-config --plan (amips.pipeline.plan): the jobs per rule a sweep will run and what they cost, from records."""

from __future__ import annotations

from pathlib import Path

from amips.pipeline.plan import plan_lines, planned_jobs, rule_seconds
from test_work import bench

REPO = Path(__file__).resolve().parents[2]


def test_the_estimate_uses_the_records_and_names_the_rules_without_one(tmp_path):
    bench(tmp_path, "train", "d/mips/m/none/frac0.5/seed0", 30.0)
    bench(tmp_path, "train", "d/mips/m/none/frac0.5/seed1", 10.0)
    bench(tmp_path, "evaluate", "d/mips/m/none/frac0.5/seed0", 6.0)
    seconds = rule_seconds(tmp_path)
    assert seconds == {"train": (20.0, 2), "evaluate": (6.0, 1)}
    lines = plan_lines({"train": 6, "evaluate": 6, "plot_ivf": 1}, seconds, cores=2)
    assert lines[0] == "plan: 13 jobs to run"
    assert "estimate: about 1.3 min on 2 cores" in lines[-1] and "1 jobs of plot_ivf have no record yet" in lines[-1]
    assert plan_lines({}, seconds, 2) == ["plan: 0 jobs to run (nothing to do)"]


def test_planned_jobs_are_snakemakes_own_count(tmp_path):
    jobs = planned_jobs([REPO / "tests" / "config" / "config.yaml"], tmp_path)
    assert jobs["train"] > 0 and jobs["make_dataset"] == 1 and "all" not in jobs and "total" not in jobs
