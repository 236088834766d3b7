"""The ablation table keeps trained and skipped cells apart and carries each dataset's coverage; the figure renders."""

from __future__ import annotations

import pandas as pd

from amips.pipeline.stages.homogenization import homogenization_table
from amips.reporting.homogenization_plot import plot_homogenization
from amips.pipeline.sweeps import Skip


def _summary() -> pd.DataFrame:
    rows = []
    for model, kind, wrappers in (("sn", "supportnet", ("none", "radial", "gauge")), ("kn", "keynet", ("none",))):
        for i, hom in enumerate(wrappers):
            rows.append({"dataset": "d", "task": "mips", "model": model, "kind": kind, "homogenization": hom,
                         "parameters_fraction": 0.1, "match_rate_mean": 0.1 * (i + 1), "match_rate_std": 0.01,
                         "key_error_rn2_mean": 0.9, "key_error_rn2_std": 0.05, "n_seeds": 3})
    return pd.DataFrame(rows)


def test_table_and_figure(tmp_path):
    skips = [Skip({"dataset": "d", "model": "kn", "homogenization": "radial", "fraction": 0.1, "seed": s,
                   "task": "mips"}, "the same function as 'none' ... no-op") for s in range(3)]
    coverage = {"d": {"num_keys": 100, "key_norm_log_std": 0.0, "hit_by_queries": 40, "hit_by_directions": 100}}
    table = homogenization_table(_summary(), skips, coverage)
    assert list(table["homogenization"][table["model"] == "sn"]) == ["none", "radial", "gauge"]
    kn = table[table["model"] == "kn"].set_index("homogenization")
    assert kn.loc["none", "status"] == "trained" and kn.loc["radial", "status"].startswith("skipped")
    assert len(kn) == 2 and kn.loc["radial", "kind"] == "keynet" and pd.isna(kn.loc["radial", "match_rate_mean"])
    assert (table["dataset_hit_by_queries"] == 40).all()
    plot_homogenization(table, tmp_path / "h.png")
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
