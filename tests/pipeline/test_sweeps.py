"""Sweep planning: wrappers that are no-ops on a dataset or do not apply to a model are skipped, with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from amips.pipeline.config import check_config
from amips.data.io import InputError
from amips.pipeline.sweeps import homogenization_report, plan_runs, queries_unit_norm, sweep_blocks

REPO = Path(__file__).resolve().parents[2]


def _config(datasets=None, labels=None, homogenizations=("none", "radial", "gauge", "homogeneous_icnn")):
    return {
        "datasets": datasets or {"unit": {"source": "structured", "num_keys": 10, "num_queries": 10, "dim": 4}},
        "labels": labels or {},
        "models": {"sn": {"kind": "supportnet"}, "kn": {"kind": "keynet", "resnet": True}},
        "sweep": {"datasets": list((datasets or {"unit": None}).keys()), "models": ["sn", "kn"],
                  "homogenizations": list(homogenizations), "parameters_fractions": [0.1], "seeds": [0, 1]},
    }


def _kept(config):
    runs, skips = plan_runs(config, sweep_blocks(config)["mips"])
    return {(r["dataset"], r["model"], r["homogenization"]) for r in runs}, skips


def test_unit_norm_queries_skip_the_radial_keynet_and_inapplicable_wrappers():
    kept, skips = _kept(_config())
    assert kept == {("unit", "sn", h) for h in ("none", "radial", "gauge", "homogeneous_icnn")} | {
        ("unit", "kn", "none"), ("unit", "kn", "gauge")}
    reasons = {(s.run["homogenization"], s.reason.split()[0]) for s in skips}
    assert reasons == {("radial", "the"), ("homogeneous_icnn", "the")} and len(skips) == 4  # 2 seeds each
    assert any("no-op" in s.reason for s in skips) and any("does not apply" in s.reason for s in skips)


def test_radial_keynet_is_kept_when_no_none_run_duplicates_it():
    kept, skips = _kept(_config(homogenizations=("radial",)))
    assert ("unit", "kn", "radial") in kept and not skips


@pytest.mark.parametrize("dataset,labels,unit", [
    ({"source": "structured"}, {}, True),
    ({"source": "structured", "options": {"query_norm_spread": 0.5}}, {"query_norms": "unit"}, True),
    ({"source": "structured", "options": {"query_norm_spread": 0.5}}, {"query_norms": "source"}, False),
    ({"source": "structured", "options": {"key_norm_spread": 0.5}}, {"query_norms": "source"}, True),
    ({"source": "structured"}, {"query_norms": "raw"}, False),
    ({"source": "structured"}, {"query_norms": "raw", "noise_copies": 0}, True),
    ({"source": "wordnet", "normalize": False}, {"query_norms": "source"}, False),
    ({"source": "wordnet"}, {"query_norms": "source"}, True),
    ({"source": "npy", "keys": "k", "queries": "q"}, {"query_norms": "source"}, True),
])
def test_query_normalisation_is_derived_from_dataset_and_labels(dataset, labels, unit):
    assert queries_unit_norm(dataset, labels) is unit


def test_varying_query_norms_keep_the_radial_keynet():
    datasets = {"raw": {"source": "wordnet", "normalize": False}}
    kept, skips = _kept(_config(datasets=datasets, labels={"query_norms": "source"}))
    assert ("raw", "kn", "radial") in kept
    assert all("does not apply" in s.reason for s in skips)


def test_default_config_has_no_two_runs_of_the_same_function():
    """config.yaml sweeps none and radial over KeyNets on unit-norm data: only one of each pair is trained."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    runs, _ = plan_runs(config, sweep_blocks(config)["mips"])
    keynets = {r["model"] for r in runs if config["models"][r["model"]]["kind"] == "keynet"}
    for model in keynets:
        assert {r["homogenization"] for r in runs if r["model"] == model} == {"none"}
    assert any("no-op" in line for line in homogenization_report(config))


def test_check_config_reports_the_skips(tmp_path):
    path = tmp_path / "c.yaml"
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    path.write_text(yaml.safe_dump(config))
    lines = check_config([path])
    assert "skipped: dataset 'structured' model 'keynet' homogenization 'radial' (mips)" in "\n".join(lines)


def test_undefined_model_is_named():
    config = _config()
    config["sweep"]["models"].append("nope")
    with pytest.raises(InputError, match="'nope'"):
        plan_runs(config, sweep_blocks(config)["mips"])


def test_a_skip_names_its_cause_the_labels_setting_or_the_dataset():
    """The no-op skip says why the queries have norm 1: labels.query_norms: unit (the default), or the dataset."""
    spread = {"spread": {"source": "structured", "num_keys": 10, "num_queries": 10, "dim": 4,
                         "options": {"query_norm_spread": 0.5}}}
    _, skips = _kept(_config(datasets=spread, homogenizations=("none", "radial")))
    assert skips and all("labels.query_norms: unit" in s.reason for s in skips)
    kept, skips = _kept(_config(datasets=spread, labels={"query_norms": "source"}, homogenizations=("none", "radial")))
    assert ("spread", "kn", "radial") in kept and not skips
    _, skips = _kept(_config(labels={"query_norms": "source"}, homogenizations=("none", "radial")))
    assert skips and all("this dataset's queries have norm 1" in s.reason and "query_norms" not in s.reason
                         for s in skips)
