"""The index-family rules (workflow/rules/index_families.smk): planned by the medium config only, and run end to
end on a tiny config (per-dataset baselines, per-run predicted-key rows, the mean ± std table over seeds)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def snakemake(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--nolock", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=timeout)


def test_medium_config_plans_the_index_families_and_the_default_config_does_not(tmp_path):
    out = snakemake("--directory", str(tmp_path), "--configfile", str(REPO / "config/medium.yaml"), "-n", "--cores",
                    "2", cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    counts = dict(line.split()[:2] for line in out.stdout.splitlines()
                  if line.startswith(("index_families_", "aggregate_index_families", "what_wins")))
    medium = yaml.safe_load((REPO / "config/medium.yaml").read_text())["experiments"]["index_families"]
    # 3 datasets (WordNet, WordNet with raw norms, log-normal synthetic); 9 WordNet runs + 2 seeds on each true-MIPS set
    assert medium["enabled"] and counts == {"index_families_baselines": "3", "index_families_learned": "13",
                                            "aggregate_index_families": "1", "what_wins": "1"}
    assert "results/figures/medium/index_families.png" in out.stdout
    assert "results/figures/medium/what_wins.md" in out.stdout
    default = yaml.safe_load((REPO / "config.yaml").read_text())["experiments"]["index_families"]
    assert default == {"enabled": False}


TINY = {
    "name": "tinyif",
    "datasets": {"tinyif": {"source": "structured", "num_keys": 400, "num_queries": 240, "dim": 16, "seed": 0,
                            "options": {"num_clusters": 4, "intrinsic_dim": 3}}},
    "labels": {"noise_copies": 1, "test_size": 0.25},
    "models": {"keynet": {"kind": "keynet", "depth": 2, "wx_inject": 2}},
    "training": {"steps": 20, "batch_size": 32, "lr_peak": 0.003, "warmup_steps": 2, "log_every": 10,
                 "eval_every": 10},
    "sweep": {"datasets": ["tinyif"], "models": ["keynet"], "homogenizations": ["none"],
              "parameters_fractions": [0.5], "seeds": [0, 1]},
    "experiments": {"controls": {"enabled": False}, "ivf": {"enabled": False},
                    "index_families": {"enabled": True, "hnsw_m": 8, "ef": [4, 32], "pq_m": [4], "nprobes": [1, 20],
                                       "rerank": [0, 10], "repeats": 1}},
}


@pytest.mark.workflow
def test_tiny_config_runs_the_index_families(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(TINY, allow_unicode=True))
    figures = "results/figures/tinyif"
    targets = [f"{figures}/index_families.{ext}" for ext in ("csv", "md", "png")]
    out = snakemake("--directory", str(tmp_path), "--configfile", str(config), "--cores", "2", *targets, cwd=REPO)
    assert out.returncode == 0, out.stderr[-5000:]
    base = pd.read_csv(tmp_path / "results/tinyif/index_families/baselines.csv", keep_default_na=False)
    assert {"x", "x l2-reduction"} == set(base["method"])
    run = pd.read_csv(tmp_path / "results/tinyif/mips/keynet/none/frac0.5/seed1/index_families.csv")
    assert {"ĝ ip", "ĝ l2", "ĝ probe"} == set(run["method"]) and (run["seed"] == 1).all()
    table = pd.read_csv(tmp_path / f"{figures}/index_families.csv", keep_default_na=False)
    learned = table[table["run_id"] == "keynet/none/frac0.5"]
    assert len(learned) and (learned["n_seeds"] == 2).all()
    reduction = table[(table["index"] == "ivf_flat_mips_l2") & (table["param"] == 20)]
    assert (reduction["recall@1"] == 1.0).all()  # all 20 lists of the MIPS-to-L2 IVF: exact
