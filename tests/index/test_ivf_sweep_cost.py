"""Issue 19, item 6: one nprobe grid chosen in config for every IVF sweep, the natural sweep measured once per
dataset and read by the experiments, and wall-clock marked where it was measured on a loaded machine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from amips.data.io import InputError
from amips.pipeline.sections import BudgetSettings
from amips.index.ivf import nprobe_grid
from amips.index.timing import load_columns, quiet_threshold, sweep_timing

REPO = Path(__file__).resolve().parents[2]
FULL_223 = [1, 2, 4, 8, 16, 32, 64, 128, 223]


@pytest.mark.parametrize("spec, grid", [
    (None, FULL_223),                                              # the default: the old full sweep, unchanged
    ({}, FULL_223),
    ({"max_nprobe": 64}, [1, 2, 4, 8, 16, 32, 64]),
    ({"max_nprobe": 50}, [1, 2, 4, 8, 16, 32, 50]),                # the cap itself is a point ...
    ({"max_nprobe": 50, "include_cap": False}, [1, 2, 4, 8, 16, 32]),  # ... unless asked not to
    ({"max_nprobe": 1000}, FULL_223),                              # a cap above nlist is all lists
    ({"max_scan_fraction": 0.3}, [1, 2, 4, 8, 16, 32, 64, 66]),    # ⌊0.3 · 223⌋ = 66
    ({"max_scan_fraction": 0.001}, [1]),                           # never empty
    ({"max_scan_fraction": 0.5, "max_nprobe": 20}, [1, 2, 4, 8, 16, 20]),  # the smaller cap holds
    ([8, 1, 4, 4], [1, 4, 8]),                                     # an explicit list: sorted, duplicates dropped
    ([1, 300], [1, 223]),                                          # a value above nlist means all lists
])
def test_nprobe_grid_from_config(spec, grid):
    assert nprobe_grid(223, spec) == grid


def test_nprobe_grid_of_one_list_and_bad_settings():
    assert nprobe_grid(1) == [1] and nprobe_grid(1, {"max_nprobe": 8}) == [1]
    for bad in ({"max_probe": 8}, {"max_nprobe": 0}, {"max_scan_fraction": 0.0}, {"max_scan_fraction": 1.5},
                [], [0, 2], [1.5]):
        with pytest.raises(InputError, match="experiments.ivf.nprobes"):
            nprobe_grid(223, bad)


def test_load_flag_and_timing_settings(monkeypatch):
    assert load_columns(0.4, 1.2, 1.5)["quiet_machine"] is True
    assert load_columns(0.4, 1.6, 1.5)["quiet_machine"] is False       # loaded after the sweep: not quiet
    assert load_columns(2.0, 0.1, 1.5)["quiet_machine"] is False
    assert load_columns(float("nan"), 0.1, 1.5)["quiet_machine"] is False  # unknown load: not quiet
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert quiet_threshold() == 1.5 and quiet_threshold(3) == 3.0
    assert sweep_timing({}) == {"repeats": 1, "quiet_load": None}
    assert sweep_timing({"timing_repeats": 3, "quiet_load": 0.5}) == {"repeats": 3, "quiet_load": 0.5}
    with pytest.raises(InputError, match="timing_repeats"):
        sweep_timing({"timing_repeats": 0})


def test_schema_takes_each_form_of_the_grid():
    import jsonschema

    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    ivf = schema["properties"]["experiments"]["properties"]["ivf"]
    for good in ({"nprobes": [1, 2, 64]}, {"nprobes": {"max_nprobe": 64}}, {"nprobes": {"max_scan_fraction": 0.3,
                 "include_cap": False}}, {"quiet_load": 1.5, "timing_repeats": 3}):
        jsonschema.validate(good, ivf)
    for bad in ({"nprobes": []}, {"nprobes": [0]}, {"nprobes": {}}, {"nprobes": {"max_probe": 3}},
                {"nprobes": {"max_scan_fraction": 2}}, {"quiet_load": 0}, {"timing_repeats": 0}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, ivf)


@pytest.fixture
def stage_files(tmp_path):
    """keys.npy, a labels folder (train/test), a saved untrained KeyNet: the inputs of the IVF rules."""
    import torch

    from amips.core.fingerprint import array_digest
    from amips.data.manifest import write_manifest
    from amips.data.sets import structured_embeddings
    from amips.exact.labels import exact_topk
    from amips.models import ModelSpec
    from amips.models.factory import build_model, save_model

    torch.set_num_threads(1)
    ds = structured_embeddings(1200, 300, 12, num_clusters=8, seed=3)
    keys = np.asarray(ds.keys, np.float32)
    _, top = exact_topk(ds.queries, keys, 1)
    labels = tmp_path / "labels"
    labels.mkdir()
    np.save(tmp_path / "keys.npy", keys)
    for split, rows in (("train", slice(0, 200)), ("test", slice(200, 300))):
        np.save(labels / f"{split}_queries.npy", np.asarray(ds.queries[rows], np.float32))
        np.save(labels / f"{split}_targets.npy", top[rows])
    (labels / "meta.json").write_text('{"num_rows": 300, "label_seconds": 0.5}')
    write_manifest(labels, "labels", ["meta.json"] + [f"{s}_{a}.npy" for s in ("train", "test")
                                                      for a in ("queries", "targets")],
                   {"keys": array_digest(keys)}, {})
    model = build_model(ModelSpec(kind="keynet", depth=2, width=16, homogenization="none"), 12, len(keys))
    save_model(tmp_path / "model.pt", model, len(keys), {"keys_sha256": array_digest(keys),
                                                         "train_info": {"train_seconds": 1.0}})
    return tmp_path


def test_experiments_share_the_natural_sweep_and_the_grid(stage_files, monkeypatch):
    """ivf_baselines sweeps the natural query once; the hybrid and router stages sweep only their own probe rules,
    over the config's grid, and the experiment's table takes plain IVF from baselines.csv."""
    import amips.index.sweeps as ivf_module
    from amips.pipeline.stages.ivf_experiments import aggregate_experiment, ivf_hybrid, list_router
    from amips.pipeline.stages.ivf import ivf_baselines

    calls = []
    real = ivf_module.ivf_sweep
    monkeypatch.setattr(ivf_module, "ivf_sweep", lambda *a, **k: calls.append(a[3]) or real(*a, **k))
    tmp = stage_files
    ivf_cfg = {"nlist": 16, "k_values": [1], "nprobes": {"max_nprobe": 4}, "quiet_load": 1e6}
    sweep = {k: ivf_cfg[k] for k in ("k_values", "nprobes", "quiet_load")}
    base = ivf_baselines(tmp / "keys.npy", tmp / "labels", tmp / "baselines.csv", ivf_cfg, dataset="d",
                         index_path=tmp / "index.faiss")
    hybrid = ivf_hybrid(tmp / "model.pt", tmp / "keys.npy", tmp / "labels", tmp / "index.faiss", tmp / "hybrid.csv",
                        {**sweep, "split_shares": [0.5, 1.0]}, {"dataset": "d", "seed": 0, "model": "keynet",
                                                               "homogenization": "none"},
                        {"steps": 10, "batch_size": 8})
    router = list_router("ltr", tmp / "keys.npy", tmp / "labels", tmp / "index.faiss", tmp / "ltr.csv",
                         {**sweep, "steps": 5, "batch_size": 32}, {"dataset": "d", "seed": 0}, tmp / "ltr")
    assert calls == [[1, 2, 4]]                                   # one natural sweep: the baselines'
    for rows in (base, hybrid, router):
        ivf_rows = [r for r in rows if "nprobe" in r and not pd.isna(r["nprobe"])]
        assert sorted({r["nprobe"] for r in ivf_rows}) == [1, 2, 4]
        assert all(r["quiet_machine"] and r["timing_queries"] == 100 and r["timing_repeats"] == 1 for r in rows)
    assert {r["method"] for r in hybrid} == {"hybrid keynet (none)", "split 0.5 keynet (none)"}  # share 1 = plain IVF

    curves = aggregate_experiment([tmp / "baselines.csv", tmp / "hybrid.csv", tmp / "ltr.csv"], tmp / "all.csv",
                                  tmp / "all.md", "test", BudgetSettings.default().fractions)
    natural = curves[curves["method"] == "ivf natural"].sort_values("nprobe")
    expected = [r["recall@1"] for r in base if r["method"] == "ivf natural"]
    assert natural["recall@1_mean"].tolist() == pytest.approx(expected)
    assert curves["quiet_machine"].all() and "†" not in (tmp / "all.md").read_text()


def test_tables_mark_wall_clock_measured_under_load(tmp_path):
    from amips.experiments.breakeven import breakeven_markdown, breakeven_table
    from amips.reporting.tables import aggregate_ivf

    def rows(method, quiet, scale):
        return [{"dataset": "d", "method": method, "nprobe": p, "recall@1": min(1.0, 0.5 + 0.1 * p),
                 "flops": 10.0 * p * scale, "seconds": 1e-3 * p * scale, "quiet_machine": quiet} for p in (1, 2, 4)]

    frame = pd.DataFrame(rows("ivf natural", True, 1.0) + rows("hybrid m", False, 0.5)
                         + [{"dataset": "d", "method": "exact", "recall@1": 1.0, "flops": 200.0, "seconds": 0.02,
                             "quiet_machine": True}])
    frame.to_csv(tmp_path / "c.csv", index=False)
    curves = aggregate_ivf([tmp_path / "c.csv"], tmp_path / "out.csv", tmp_path / "out.md",
                           BudgetSettings.default().fractions)
    text = (tmp_path / "out.md").read_text()
    flops_part, seconds_part = text.split("## At equal wall-clock")
    assert "†" not in flops_part.split("## Routing coverage")[0]          # FLOPs do not depend on the load
    wall = [line for line in seconds_part.split("## Routing")[0].splitlines() if line.startswith("| d |")]
    assert all("†" in line for line in wall if "hybrid m" in line)
    assert not any("†" in line for line in wall if "ivf natural" in line)
    assert "loaded machine" in seconds_part

    table = breakeven_table(curves, [0.9])
    assert table.loc[table["axis"] == "flops", "quiet_machine"].all()
    assert not table.loc[table["axis"] == "seconds", "quiet_machine"].any()
    md = breakeven_markdown(table)
    flops_md, seconds_md = md.split("recall@1 ≥ 0.9, seconds")
    assert "†" in seconds_md and "†" not in flops_md


def test_every_ivf_rule_gets_the_one_grid():
    """The workflow's params (amips.pipeline.job_params) hand experiments.ivf's grid and timing settings to
    the natural/projected/controls rules (the whole block) and to the hybrid and list-router rules."""
    from amips.pipeline import job_params

    ivf = {"enabled": True, "k_values": [1, 10], "nprobes": {"max_nprobe": 64}, "quiet_load": 1.5,
           "timing_repeats": 2}

    class Wildcards(dict):
        __getattr__ = dict.__getitem__

    from amips.core.schema import with_defaults

    raw = {"experiments": {"ivf": ivf, "ivf_hybrid": {"enabled": True, "split_shares": [0.5], "seeds": [0]},
                           "list_router": {"ltr": {"steps": 5}, "parameters_fraction": 0.01}},
           "models": {"m": {"kind": "supportnet"}}, "training": {"steps": 3}}
    config = with_defaults(raw, validate=False)  # as the workflow sees it: the schema's defaults filled in
    ltr = {k: v for k, v in config["experiments"]["list_router"]["ltr"].items() if k != "enabled"}
    shared = {"k_values": [1, 10], "nprobes": {"max_nprobe": 64}, "quiet_load": 1.5, "timing_repeats": 2}
    assert job_params.ivf_config(config, Wildcards()) is config["experiments"]["ivf"]
    assert job_params.ivf_hybrid_config(config, Wildcards()) == {**shared, "split_shares": [0.5]}
    assert job_params.list_router_config(config, Wildcards(router="ltr")) == {**shared, **ltr} and ltr["steps"] == 5
    amips = job_params.list_router_config(config, Wildcards(model="m", homogenization="none"))
    assert {k: amips[k] for k in shared} == shared
    raw["experiments"]["ivf"] = {"enabled": True}            # nothing set: the rules' params as before
    config = with_defaults(raw, validate=False)
    assert job_params.ivf_hybrid_config(config, Wildcards()) == {"k_values": [1, 10], "split_shares": [0.5]}
