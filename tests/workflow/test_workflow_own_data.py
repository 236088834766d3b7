"""The run a user reaches first: their own .npy embeddings, several datasets of different sizes and norms, under one
run name, with the IVF experiments and the break-even table (issue 26 item 8).

A two-dataset own-data run used to crash in aggregate_ivf / aggregate_ivf_experiment: the budgets were computed as
f · exact / exact, which is not f for some measured exact-search times (0.1 · 0.0123 / 0.0123 ≠ 0.1), and the
pivot found no row. Here exact search's measured seconds are pinned to such a value for one dataset (the rule's
output is edited, so Snakemake reruns only the tables and figures downstream of it) and every table must still hold
every configured budget for every dataset.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from amips.pipeline.sections import BudgetSettings

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
PINNED_SECONDS = 0.0123  # 0.1 · 0.0123 / 0.0123 = 0.10000000000000002

# name → (number of keys, key norms): unit-norm, log-normal and uniform in [0.5, 2]
DATASETS = {"small_unit": (300, "unit"), "mid_lognormal": (700, "lognormal"), "large_uniform": (1000, "uniform")}


def write_npy_datasets(root: Path, dim: int = 8, num_queries: int = 160) -> dict:
    """The three datasets' key and query files (queries with varying norms), and their config entries."""
    rng = np.random.default_rng(0)
    entries = {}
    for name, (num_keys, norms) in DATASETS.items():
        keys = rng.standard_normal((num_keys, dim))
        keys /= np.linalg.norm(keys, axis=1, keepdims=True)
        if norms == "lognormal":
            keys *= rng.lognormal(0.0, 0.5, (num_keys, 1))
        elif norms == "uniform":
            keys *= rng.uniform(0.5, 2.0, (num_keys, 1))
        queries = rng.standard_normal((num_queries, dim)) * rng.uniform(0.5, 1.5, (num_queries, 1))
        (root / name).mkdir(parents=True)
        np.save(root / name / "keys.npy", keys.astype(np.float32))
        np.save(root / name / "queries.npy", queries.astype(np.float32))
        entries[name] = {"source": "npy", "keys": f"inputs/{name}/keys.npy", "queries": f"inputs/{name}/queries.npy"}
    return entries


def own_data_config(entries: dict) -> dict:
    return {
        "name": "mine3",
        "datasets": entries,
        "labels": {"query_norms": "source", "noise_copies": 0, "test_size": 40},
        "models": {"keynet": {"kind": "keynet", "depth": 2, "wx_inject": 2}},
        "training": {"steps": 20, "batch_size": 32, "lr_peak": 0.003, "warmup_steps": 2, "log_every": 10, "eval_every": 10},
        "sweep": {"datasets": list(entries), "models": ["keynet"], "homogenizations": ["none"],
                  "parameters_fractions": [0.5], "seeds": [0]},
        "experiments": {"ivf": {"enabled": True, "hnsw_ef": [4, 16], "faiss_hnsw": True},
                        "ivf_hybrid": {"enabled": True, "seeds": [0]},
                        "breakeven": {"enabled": True},
                        "controls": {"enabled": False}},
    }


def snakemake(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), *args], cwd=cwd, text=True,
                          capture_output=True, timeout=1800)  # a guard against a hang only


def pin_exact_seconds(baselines: Path, seconds: float) -> None:
    frame = pd.read_csv(baselines)
    frame.loc[frame["method"] == "exact", "seconds"] = seconds
    frame.to_csv(baselines, index=False)


@pytest.mark.workflow
@pytest.mark.slow
def test_three_own_datasets_under_one_name_finish_with_every_table_and_figure(tmp_path):
    entries = write_npy_datasets(tmp_path / "inputs")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(own_data_config(entries)))
    args = ("--directory", str(tmp_path), "--configfile", str(config), "--cores", "2")
    first = snakemake(*args, cwd=REPO)
    assert first.returncode == 0, first.stderr[-5000:]

    time.sleep(1.1)  # a strictly newer mtime: the tables downstream of the edited baselines rerun
    pin_exact_seconds(tmp_path / "results/mid_lognormal/ivf/baselines.csv", PINNED_SECONDS)
    again = snakemake(*args, cwd=REPO)
    assert again.returncode == 0, again.stderr[-5000:]
    assert "rule aggregate_ivf:" in again.stdout + again.stderr

    budgets = BudgetSettings.default().fractions.values
    assert any(b * PINNED_SECONDS / PINNED_SECONDS != b for b in budgets)  # the pinned time breaks the round trip
    figures = tmp_path / "results/figures/mine3"
    tables = tmp_path / "results/tables/mine3"
    for markdown in (tables / "ivf.md", figures / "ivf_hybrid.md"):
        text = markdown.read_text()
        for section in (s for s in text.split("\n## ") if s.startswith("At equal")):
            header = next(line for line in section.splitlines() if line.startswith("| dataset"))
            assert header.count("≤") == len(budgets), markdown
            for dataset in DATASETS:
                rows = [line for line in section.splitlines() if line.startswith(f"| {dataset} |")]
                assert rows and all(r.count("|") == len(budgets) + 3 for r in rows), (markdown, dataset)
    versus = (figures / "ivf_hybrid.md").read_text().split("Best method vs plain IVF at equal FLOPs")[1]
    for dataset in DATASETS:
        assert sum(line.startswith(f"| {dataset} |") for line in versus.splitlines()) == len(budgets)
    curves = pd.read_csv(tables / "ivf.csv")
    assert set(curves["dataset"]) == set(DATASETS)
    breakeven = pd.read_csv(figures / "breakeven.csv")
    assert set(breakeven["dataset"]) == set(DATASETS)
    for figure in ("ivf", "ivf_hybrid", "breakeven", "match_rate"):
        path = figures / f"{figure}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", figure
        assert len(pd.read_csv(path.with_suffix(".csv"))) > 0, figure
