"""The workflow's logic without Snakemake: target lists (amips.pipeline.targets), path patterns
(amips.pipeline.paths) and what each job is given (amips.pipeline.job_params), for the shipped configs."""

from __future__ import annotations

import copy
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from snakemake.utils import validate

from amips.pipeline import job_params, paths, targets
from amips.pipeline.config import SCHEMA, load_config
from clitools import run

REPO = Path(__file__).resolve().parents[2]


def workflow_config(path: str) -> dict[str, Any]:
    """A config as the workflow sees it: merged, then validated with the schema's defaults filled in."""
    config = load_config([REPO / path])
    validate(config, str(SCHEMA))
    return config


class Wildcards(dict):
    """Snakemake's wildcards: attribute access and ``.get``."""

    __getattr__ = dict.__getitem__


@pytest.fixture(scope="module")
def quick() -> dict[str, Any]:
    return workflow_config("config.yaml")


@pytest.fixture(scope="module")
def medium() -> dict[str, Any]:
    return workflow_config("config/medium.yaml")


def test_the_default_config_makes_its_tables_and_figures(quick):
    figures = [f"results/figures/quick/{f}" for f in (
        "breakeven.csv", "breakeven.md", "breakeven.png", "ivf.csv", "ivf.png", "ivf_hybrid.csv", "ivf_hybrid.md",
        "ivf_hybrid.png", "ivf_routers.csv", "ivf_routers.md", "ivf_routers.png", "learning_curves.csv",
        "learning_curves.png", "match_rate.csv", "match_rate.png", "provenance.yaml", "router.csv", "router.png")]
    tables = [f"results/tables/quick/{t}" for t in ("ivf.csv", "ivf.md", "router.csv", "router.md", "summary.csv",
                                                     "summary.md")]
    outputs = targets.final_outputs(quick)
    assert sorted(outputs) == sorted(figures + tables) and len(set(outputs)) == len(outputs)
    assert targets.skipped_figures(quick) == {
        "compression": "needs at least two parameters_fractions in the sweeps, has 1"}
    assert "results/figures/quick/provenance.yaml" not in targets.provenance_inputs(quick)
    published = targets.published_files(quick)
    assert "results/tables/quick/runs.csv" in published and "results/tables/quick/ivf.csv" not in published
    assert targets.index_family_outputs(quick) == [] and targets.what_wins_outputs(quick) == []
    assert targets.scaling_points(quick) == [] and targets.scaling_outputs(quick) == []


def test_the_default_config_plans_its_runs(quick):
    mips, router = targets.sweep_runs(quick, "mips"), targets.sweep_runs(quick, "router")
    assert len(mips) == 12 and len(router) == 3
    assert targets.datasets(quick) == ["structured"]
    assert len(targets.skip_lines(quick)) == 2 and all("no-op" in line for line in targets.skip_lines(quick))
    assert targets.run_files(quick, "metrics.json", task="router") == [
        paths.run_file("metrics.json", **run) for run in router]
    assert len(targets.curve_histories(quick)) == 15 == len(job_params.curve_run_fields(quick, Wildcards()))
    assert targets.control_files(quick) == [f"results/structured/controls/{c}/metrics.json"
                                            for c in ("identity", "scalar", "ridge", "blend")]
    assert targets.control_ivf_files(quick) == ["results/structured/controls/ivf.csv"]
    assert len(targets.ivf_hybrid_files(quick)) == 12 and len(targets.list_router_files(quick)) == 6


def test_the_medium_config_makes_every_experiment(medium):
    name = "results/figures/medium"
    outputs = targets.final_outputs(medium)
    assert len(outputs) == 35 and len(set(outputs)) == 35
    for stem in ("index_families", "what_wins", "data_scaling", "compression", "ivf_hybrid", "ivf_routers"):
        assert any(f.startswith(f"{name}/{stem}.") for f in outputs), stem
    assert targets.skipped_figures(medium) == {}
    assert targets.what_wins_curves(medium) == [f"{name}/{c}.csv" for c in (
        "ivf", "ivf_hybrid", "ivf_routers", "index_families")]
    assert targets.ivf_experiment_tables(medium) == [f"{name}/ivf_hybrid.csv", f"{name}/ivf_routers.csv"]


def test_the_medium_config_plans_its_runs(medium):
    assert len(targets.sweep_runs(medium, "mips")) == 27 and len(targets.sweep_runs(medium, "router")) == 4
    assert len(targets.index_family_datasets(medium)) == 3 and len(targets.index_family_runs(medium)) == 13
    assert len(targets.index_family_files(medium)) == 16
    points = Counter("controls" if "/scaling/controls/" in f else "model" for f in targets.scaling_points(medium))
    assert points == {"model": 14, "controls": 7}
    assert len(targets.ivf_hybrid_files(medium)) == 21 and len(targets.list_router_files(medium)) == 12
    assert len(targets.scaling_baselines(medium)) == len(medium["experiments"]["data_scaling"]["datasets"])


def test_a_disabled_experiment_makes_nothing(quick):
    config = copy.deepcopy(quick)
    for block in ("router", "ivf", "controls"):
        config["experiments"][block]["enabled"] = False
    config["labels"]["validation_fraction"] = 0.0
    assert targets.sweep_runs(config, "router") == [] and targets.control_files(config) == []
    assert targets.final_outputs(config) == ["results/tables/quick/summary.csv", "results/tables/quick/summary.md",
                                             "results/figures/quick/provenance.yaml",
                                             "results/figures/quick/match_rate.png",
                                             "results/figures/quick/match_rate.csv"]
    assert set(targets.skipped_figures(config)) == {"compression", "ivf", "router", "learning_curves", "ivf_hybrid",
                                                     "ivf_routers", "breakeven"}


def test_paths_leave_what_is_not_given_a_wildcard():
    assert paths.labels_dir() == "results/{dataset}/labels/{task}"
    assert paths.labels_file("test_targets.npy", task="mips") == "results/{dataset}/labels/mips/test_targets.npy"
    assert paths.labels_files("router", "centroids") == {"centroids": "results/{dataset}/labels/router/centroids.npy"}
    assert list(paths.labels_files("{task}"))[:2] == ["train_queries", "train_targets"]
    assert paths.data_files("key_file", dataset="d") == {"key_file": "results/d/data/keys.npy"}
    assert paths.run_file("model.pt") == (
        "results/{dataset}/{task}/{model}/{homogenization}/frac{fraction}/seed{seed}/model.pt")
    run = {"dataset": "d", "task": "mips", "model": "m", "homogenization": "none", "fraction": 0.2, "seed": 1}
    assert paths.run_dir(**run) == "results/d/mips/m/none/frac0.2/seed1"
    assert paths.run_key(task=None) == "{dataset}/{model}/{homogenization}/frac{fraction}/seed{seed}"
    assert paths.log_file("train", "{dataset}") == "logs/train/{dataset}.log"
    assert paths.benchmark_file("train", "{dataset}") == "results/benchmarks/train/{dataset}.tsv"
    assert paths.figure_file("ivf.png", "quick") == "results/figures/quick/ivf.png"
    assert paths.table_file("ivf.csv") == "results/tables/{name}/ivf.csv"
    assert paths.list_router_file("ltr", "seed0", "routing.csv", dataset="d") == (
        "results/d/list_router/ltr/seed0/routing.csv")


def test_every_path_of_the_rules_comes_from_a_helper():
    """No rule file types out a results/ or logs/ path: each pattern is written once, in amips.pipeline.paths."""
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        literal = re.findall(r"""["'](?:results|logs)/""", smk.read_text(encoding="utf-8"))
        assert not literal, f"{smk.name}: {literal}"
    assert not (REPO / "workflow" / "rules" / "common").exists()


def test_job_params_of_a_run(quick):
    wildcards = Wildcards(dataset="structured", task="router", model="supportnet_router", homogenization="radial",
                          fraction="0.2", seed="0")
    assert job_params.labels_config(quick, wildcards)["num_clusters"] == quick["experiments"]["router"]["num_clusters"]
    assert job_params.labels_config(quick, Wildcards(wildcards, task="mips"))["num_clusters"] == 1
    assert job_params.run_fields(quick, wildcards) == {
        "dataset": "structured", "task": "router", "model": "supportnet_router", "homogenization": "radial",
        "parameters_fraction": 0.2, "seed": 0}
    model = job_params.model_config(quick, wildcards)
    assert model["homogenization"] == "radial" and model["parameters_fraction"] == 0.2 and "training" not in model
    assert job_params.dataset_inputs(quick, wildcards) == {} and job_params.train_partition(quick, wildcards) == {}
    npy = {**quick, "datasets": {"u": {"source": "npy", "keys": "k.npy", "queries": "q.npy"}}}
    assert job_params.dataset_inputs(npy, Wildcards(dataset="u")) == {"user_keys": "k.npy", "user_queries": "q.npy"}
    assert job_params.fixed_router_targets(quick, Wildcards(dataset="d", router="ltr")) == {}
    assert job_params.ivf_experiment_files(quick, Wildcards(experiment="hybrid")) == targets.ivf_hybrid_files(quick)


def test_check_config_refuses_index_families_on_an_undefined_dataset(capsys, tmp_path):
    """The check the workflow ran on its own before (index_families.datasets) is one of amips.pipeline.config_checks,
    so `amips check-config` refuses the config too."""
    config = yaml.safe_load((REPO / "tests" / "config" / "config.yaml").read_text())
    config["experiments"]["index_families"] = {"enabled": True, "datasets": ["tiny", "nowhere"]}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run(capsys, "check-config", path)
    errors = [line for line in result.err.splitlines() if line.startswith("amips: error: ")]
    assert result.code == 2 and errors == [
        "amips: error: config experiments.index_families.datasets: ['nowhere'] are not defined under datasets"]
