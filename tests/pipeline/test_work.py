"""The work a run's provenance counts (amips.pipeline.work): every job its results are made of, whenever it ran."""

from __future__ import annotations

from pathlib import Path

from amips.core.schema import with_defaults
from amips.pipeline.config import load_config
from amips.pipeline.work import run_work

REPO = Path(__file__).resolve().parents[2]
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def bench(root: Path, rule: str, key: str, seconds: float, cpu: float = 1.0) -> None:
    path = root / "results" / "benchmarks" / rule / f"{key}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{seconds}\t0:00:01\t1\t1\t1\t1\t0\t0\t50\t{cpu}\n")


def test_the_work_of_a_run_counts_its_jobs_and_leaves_out_other_configs(tmp_path):
    config = with_defaults(load_config([REPO / "config.yaml"]))
    bench(tmp_path, "make_dataset", "structured", 2.0)
    bench(tmp_path, "exact_labels", "structured/mips", 3.0)
    bench(tmp_path, "train", "structured/mips/keynet/none/frac0.1/seed0", 100.0, 90.0)  # trained under another name
    bench(tmp_path, "ivf_projected", "structured/keynet/none/frac0.1/seed0", 5.0)
    bench(tmp_path, "aggregate", "quick", 1.0)
    bench(tmp_path, "train", "structured/mips/keynet/none/frac0.9/seed7", 1000.0)  # another config's run
    bench(tmp_path, "make_dataset", "elsewhere", 1000.0)  # another dataset
    bench(tmp_path, "aggregate", "other_name", 1000.0)  # another run name
    (tmp_path / "results/benchmarks/train/structured/broken.tsv").write_text("not a record")
    work = run_work(config, tmp_path)
    assert work["seconds"] == 111.0 and work["cpu_seconds"] == 94.0
    assert work["by_rule"] == {"aggregate": 1.0, "exact_labels": 3.0, "ivf_projected": 5.0, "make_dataset": 2.0,
                               "train": 100.0}
    assert work["jobs"] == 6  # the unreadable record counts as a job of zero seconds
    assert run_work(config, tmp_path / "nothing") == {"jobs": 0, "seconds": 0.0, "cpu_seconds": 0.0, "by_rule": {}}
