"""Aggregation: mean ± std over seeds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from amips.tables import aggregate


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
    assert "0.400 ± 0.200" in md and md.count("\n") == 4
