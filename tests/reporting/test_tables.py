"""Aggregation: mean ± std over seeds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from amips.reporting.tables import aggregate


def test_aggregate_mean_and_std_over_seeds(tmp_path):
    files = []
    for model, values in (("a", [0.2, 0.4, 0.6]), ("b", [0.5])):
        for seed, v in enumerate(values):
            path = tmp_path / f"{model}{seed}.json"
            path.write_text(json.dumps({"dataset": "d", "model": model, "kind": "keynet", "homogenization": "none",
                                        "parameters_fraction": 0.1, "seed": seed, "match_rate": v, "mrr": v,
                                        "recall@10": 1.0, "key_error_rn2": 0.5, "num_parameters": 10}))
            files.append(path)
    summary = aggregate(files, tmp_path / "runs.csv", tmp_path / "s.csv", tmp_path / "s.md")
    row = summary.set_index("model").loc["a"]
    assert np.isclose(row["match_rate_mean"], 0.4) and np.isclose(row["match_rate_std"], 0.2)
    assert summary.set_index("model").loc["b", "match_rate_std"] == 0.0
    assert len(pd.read_csv(tmp_path / "runs.csv")) == 4
    md = (tmp_path / "s.md").read_text()
    assert "0.400 ± 0.200" in md and md.startswith("## MIPS models") and md.count("| d |") == 2


def test_summary_keeps_routers_and_controls_apart_from_mips_models(tmp_path):
    files = []
    rows = [("mips", "keynet", "keynet", 0.6), ("mips", "control: ridge", "control", 0.4),
            ("router", "supportnet_router", "supportnet", 0.081)]
    for i, (task, model, kind, value) in enumerate(rows):
        path = tmp_path / f"{i}.json"
        path.write_text(json.dumps({"dataset": "d", "task": task, "model": model, "kind": kind,
                                    "homogenization": "radial", "parameters_fraction": 0.1, "seed": 0,
                                    "match_rate": value, "mrr": value, "recall@10": 1.0, "key_error_rn2": 0.5,
                                    "num_parameters": 10, "routing_accuracy": 0.9 if task == "router" else None}))
        files.append(path)
    aggregate(files, tmp_path / "runs.csv", tmp_path / "s.csv", tmp_path / "s.md")
    sections = (tmp_path / "s.md").read_text().split("## ")[1:]
    assert [s.split(":")[0].split(" a learned")[0] for s in sections] == ["MIPS models", "Controls", "Cluster routers"]
    assert "keynet" in sections[0] and "control: ridge" not in sections[0] and "0.081" not in sections[0]
    assert "control: ridge" in sections[1] and "supportnet_router" in sections[2] and "routing_accuracy" in sections[2]


def test_control_rows_join_the_summary_and_the_figures(tmp_path):
    """Controls (no parameters_fraction) become marked rows of the table and reference lines of the figures."""
    from amips.reporting.plots import plot_compression, plot_match_rate
    from amips.reporting.tables import split_controls

    files = []
    for i, (model, kind, frac) in enumerate((("supportnet", "supportnet", 0.1), ("supportnet", "supportnet", 0.2),
                                             ("control: ridge", "control", None), ("control: identity", "control", None))):
        record = {"dataset": "d", "task": "mips", "model": model, "kind": kind, "homogenization": "none", "seed": 0,
                  "match_rate": 0.5 + 0.1 * i, "mrr": 0.6, "recall@10": 1.0, "key_error_rn2": 0.9,
                  "num_parameters": 10, "parameter_budget": 10}
        if frac is not None:
            record["parameters_fraction"] = frac
        path = tmp_path / f"r{i}.json"
        path.write_text(json.dumps(record))
        files.append(path)
    summary = aggregate(files, tmp_path / "runs.csv", tmp_path / "s.csv", tmp_path / "s.md")
    models, controls = split_controls(summary)
    assert sorted(controls["model"]) == ["control: identity", "control: ridge"] and len(models) == 2
    md = (tmp_path / "s.md").read_text()
    assert "| d | mips | control: ridge | control | none | – | 0.700 ± 0.000 |" in md
    reread = pd.read_csv(tmp_path / "s.csv")
    plot_match_rate(reread, tmp_path / "m.png")
    plot_compression(reread, tmp_path / "c.png")
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "c.png").stat().st_size > 1000


def test_curves_average_over_seeds_never_over_model_sizes():
    from amips.reporting.tables import summarize_curves

    rows = pd.DataFrame({"dataset": "d", "method": ["m", "m", "m", "plain"], "nprobe": 1, "seed": [0, 1, 0, 0],
                         "parameters_fraction": [0.01, 0.01, 0.03, np.nan], "recall@1": [0.4, 0.6, 0.9, 0.3]})
    out = summarize_curves([rows], ("dataset", "method", "nprobe"), ("recall@1",)).set_index("method")
    assert out.at["m frac 0.01", "recall@1_mean"] == pytest.approx(0.5) and out.at["m frac 0.01", "n_seeds"] == 2
    assert out.at["m frac 0.03", "recall@1_mean"] == pytest.approx(0.9) and "plain" in out.index
