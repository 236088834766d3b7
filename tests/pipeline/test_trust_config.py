"""Results you can trust, in the config: `amips check-config` and the workflow catch what a job would trip over, before
any job (from the cross-cutting test_trust.py)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from clitools import REPO, one_error_line, run, set_at



BASE = {
    "datasets": {"syn": {"source": "structured", "num_keys": 300, "num_queries": 100, "dim": 8,
                         "options": {"num_clusters": 4, "intrinsic_dim": 3}}},
    "labels": {"noise_copies": 1, "test_size": 0.25},
    "models": {"keynet": {"kind": "keynet", "depth": 2}},
    "training": {"steps": 10, "batch_size": 16, "lr_peak": 0.001},
    "sweep": {"datasets": ["syn"], "models": ["keynet"], "seeds": [0]},
    "experiments": {"ivf": {"enabled": True}, "router": {"enabled": True, "num_clusters": 4, "models": ["keynet"]}},
}



CONFIG_CASES = [
    ("undefined-dataset", set_at("sweep.datasets", ["syn", "nope"]), "sweep.datasets names 'nope'"),
    ("undefined-router-model", set_at("experiments.router.models", ["ghost"]), "experiments.router.models names 'ghost'"),
    ("misspelled-override", set_at("models.keynet.training", {"stesp": 3}), "models.keynet.training: unknown training"),
    ("bad-override-value", set_at("models.keynet.training", {"lr_peak": -1.0}), "models.keynet.training: learning rate"),
    ("clusters-above-keys", set_at("experiments.router.num_clusters", 301), "num_clusters=301 exceeds the 300 keys"),
    ("nlist-above-keys", set_at("experiments.ivf.nlist", 500), "experiments.ivf.nlist=500 exceeds the 300 keys"),
    ("float-steps", set_at("training.steps", 300.0), "training: steps must be an integer, got 300.0"),
    ("batch-above-rows", set_at("training.batch_size", 10000), "batch_size=10000 (model 'keynet') exceeds the 134 training"),
    ("unknown-option", set_at("datasets.syn.options", {"num_cluster": 4}), "unknown option(s) ['num_cluster']"),
    ("bad-option-value", set_at("datasets.syn.options", {"num_clusters": 0}), "datasets.syn.options: num_clusters"),
    ("negative-seed", set_at("sweep.seeds", [-1]), "sweep.seeds.0"),
    ("negative-dataset-seed", set_at("datasets.syn.seed", -3), "datasets.syn.seed"),
    ("test-size-1.5", set_at("labels.test_size", 1.5), "labels.test_size"),
    ("huge-lr", set_at("training.lr_peak", 1e6), "training.lr_peak"),
    ("bad-model-spec", set_at("models.keynet.depth", 2.5), "models.keynet"),
    ("retrieval-in-a-router", set_at("models.keynet.training", {"retrieval": {"name": "list_ce"}}),
     "experiments.router.models: ['keynet'] train with training.retrieval"),
    ("unknown-retrieval-term", set_at("models.keynet.training", {"retrieval": {"name": "listwise"}}),
     "unknown training.retrieval.name 'listwise'"),
    ("ellipsoid-rank-above-dim", set_at("experiments.list_router", {"enabled": True, "ellipsoid": {"enabled": True,
                                                                                             "rank": 8}}),
     "list_router.ellipsoid.rank=8 must be below the dimension 8 of dataset 'syn'"),
    ("routing-in-a-mips-sweep", set_at("models.keynet.training", {"routing": {"name": "oracle_ce"}}),
     "sweep.models: ['keynet'] train with training.routing, which applies to routers"),
    ("unknown-routing-term", set_at("models.keynet.training", {"routing": {"name": "listwise"}}),
     "unknown training.routing.name 'listwise'"),
    ("bad-routing-temperature", set_at("models.keynet.training", {"routing": {"name": "oracle_ce", "temperature": 0}}),
     "training.routing.temperature must be a finite number > 0, got 0"),
    ("scaling-above-queries", set_at("experiments.data_scaling", {"enabled": True, "datasets": ["syn"],
                                                                "models": ["keynet"], "train_queries": [10, 500]}),
     "train_queries [500] exceed the 67 distinct training queries"),
    ("scaling-undefined-model", set_at("experiments.data_scaling", {"enabled": True, "datasets": ["syn"],
                                                                  "models": ["ghost"], "train_queries": [10]}),
     "experiments.data_scaling.models: ['ghost'] are not defined"),
    ("scaling-batch-above-subset", set_at("experiments.data_scaling", {"enabled": True, "datasets": ["syn"],
                                                                     "models": ["keynet"], "train_queries": [5]}),
     "batch_size=16 (model 'keynet') exceeds the 10 training rows of the smallest subset"),
]


@pytest.mark.parametrize("mutate,expected", [pytest.param(m, e, id=i) for i, m, e in CONFIG_CASES])
def test_check_config_catches_what_a_job_would_trip_over(tmp_path, capsys, mutate, expected):
    config = json.loads(json.dumps(BASE))
    mutate(config)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    line = one_error_line(run(capsys, "check-config", path))
    assert expected in line, line


def test_check_config_accepts_the_base_case_and_rejects_duplicate_yaml_keys(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(BASE))
    assert run(capsys, "check-config", path).code == 0
    path.write_text("name: a\nname: b\n" + yaml.safe_dump(BASE))
    assert "duplicate key 'name'" in one_error_line(run(capsys, "check-config", path))


def test_snakemake_fails_before_any_job_on_a_semantic_error(tmp_path):
    config = json.loads(json.dumps(BASE))
    config["models"]["keynet"]["training"] = {"stesp": 3}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    snakemake = Path(os.environ.get("VIRTUAL_ENV", Path(os.sys.executable).parent.parent)) / "bin" / "snakemake"
    done = subprocess.run([str(snakemake), "-n", "--cores", "1", "--configfile", str(path), "--directory",
                           str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "models.keynet.training: unknown training" in done.stdout + done.stderr


def test_the_default_config_checkpoints():
    training = yaml.safe_load((REPO / "config.yaml").read_text())["training"]
    assert 0 < training["checkpoint_every"] < training["steps"]
