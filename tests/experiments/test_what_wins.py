"""The what-wins table (issue 19 item 4): classification of every curve row and the best per side within budgets."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from amips.reporting.budgets import Budgets
from amips.experiments.what_wins import (LEARNED, OFF_THE_SHELF, classify, load_curves, what_wins,
                                         what_wins_markdown)
from amips.pipeline.stages.what_wins import write_what_wins


def _ivf_curves() -> pd.DataFrame:
    rows = [("exact", 1000.0, 1.0), ("ivf natural", 10.0, 0.40), ("ivf natural", 50.0, 0.80),
            ("hnsw faiss", 20.0, 0.90), ("ivf keynet_resnet (radial)", 12.0, 0.50),
            ("ivf keynet_resnet (radial)", 52.0, 0.95), ("ivf control: ridge", 11.0, 0.99),
            ("router ltr (linear)", 19.0, 0.70)]
    return pd.DataFrame([{"dataset": "d", "method": m, "flops_mean": f, "recall@1_mean": r} for m, f, r in rows])


def test_classify_every_kind_of_row():
    assert classify(pd.Series({"method": "ivf natural"})) == ("IVF-Flat", OFF_THE_SHELF)
    assert classify(pd.Series({"method": "hnsw faiss"})) == ("HNSW", OFF_THE_SHELF)
    assert classify(pd.Series({"method": "split 0.25 keynet (radial)"})) == ("IVF-Flat", LEARNED)
    assert classify(pd.Series({"method": "ivf control: blend"}))[1] == "control"
    assert classify(pd.Series({"family": "ivf_pq", "method": "x", "run_id": float("nan")})) == ("IVF-PQ", OFF_THE_SHELF)
    assert classify(pd.Series({"family": "hnsw_l2", "method": "ĝ l2", "run_id": "keynet/none/frac0.01/seed0"})) == \
        ("HNSW", LEARNED)
    with pytest.raises(ValueError, match="cannot classify"):
        classify(pd.Series({"method": "something new"}))


def test_best_within_each_budget_and_the_winner(tmp_path):
    path = tmp_path / "ivf.csv"
    _ivf_curves().to_csv(path, index=False)
    table = what_wins(load_curves([path, tmp_path / "missing.csv"]), flops_budgets=Budgets.fractions((0.01, 0.02, 0.05)))
    by_budget = table.set_index("budget")
    # 1 %: 10 FLOPs → IVF 0.40; HNSW (20) does not fit; learned: nothing ≤ 10 (controls excluded) → off-the-shelf
    assert by_budget.loc[0.01, "IVF-Flat"] == 0.40 and math.isnan(by_budget.loc[0.01, "HNSW"])
    assert by_budget.loc[0.01, "winner"] == OFF_THE_SHELF and math.isnan(by_budget.loc[0.01, "best learned"])
    # 2 %: 20 FLOPs → HNSW 0.90 vs learned best of 0.50 (ivf ĝ) and 0.70 (router)
    assert by_budget.loc[0.02, "best learned"] == 0.70 and by_budget.loc[0.02, "learned method"] == "router ltr (linear)"
    assert by_budget.loc[0.02, "winner"] == OFF_THE_SHELF and by_budget.loc[0.02, "margin"] == pytest.approx(0.20)
    # 5 %: 50 FLOPs → learned 0.70 (ĝ at 52 FLOPs does not fit), off-the-shelf 0.90 (HNSW); IVF 0.80
    assert by_budget.loc[0.05, "IVF-Flat"] == 0.80 and by_budget.loc[0.05, "best off-the-shelf"] == 0.90
    markdown = what_wins_markdown(table)
    assert "| d | 2% | 0.900 | 0.400 | 0.700 (router ltr (linear)) | off-the-shelf | 0.200 |" in markdown


def test_a_learned_win_and_memory_budgets(tmp_path):
    curves = pd.DataFrame([
        {"dataset": "d", "method": "exact", "flops_mean": 100.0, "recall@1_mean": 1.0},
        {"dataset": "d", "family": "pq", "index": "PQ8", "method": "x", "run_id": "", "flops_mean": 30.0,
         "memory_bytes_mean": 8.0, "recall@1_mean": 0.3},
        {"dataset": "d", "family": "pq", "index": "PQ8", "method": "ĝ", "run_id": "keynet/seed0", "flops_mean": 40.0,
         "memory_bytes_mean": 9.5, "recall@1_mean": 0.6},
    ])
    path = tmp_path / "families.csv"
    curves.to_csv(path, index=False)
    table = write_what_wins([path], tmp_path / "w.csv", tmp_path / "w.md", flops_budgets=Budgets.fractions((0.5,)),
                            memory_budgets=Budgets.absolute((8.0, 10.0)))
    flops = table[table["axis"] == "FLOPs"].iloc[0]
    assert flops["winner"] == LEARNED and flops["margin"] == pytest.approx(0.3)
    memory = table[table["axis"] == "bytes per key"].set_index("budget")
    assert memory.loc[8.0, "winner"] == OFF_THE_SHELF and memory.loc[10.0, "winner"] == LEARNED
    assert "PQ8 ĝ keynet/seed0" in (tmp_path / "w.md").read_text()
    assert len(pd.read_csv(tmp_path / "w.csv")) == 3


def test_exact_flops_from_the_sizes_when_there_is_no_exact_row():
    from amips.experiments.what_wins import exact_flops

    rows = pd.DataFrame([{"dataset": "d", "family": "pq", "method": "x", "run_id": "", "num_keys": 1000, "dim": 8,
                          "flops": 100.0, "flops_std": 0.0, "recall@1": 0.5, "recall@1_std": 0.0}])  # its naming
    curves = load_curves_frame(rows)
    assert exact_flops(curves) == 16000.0
    table = what_wins(curves, flops_budgets=Budgets.fractions((0.01,)))
    assert table.iloc[0]["PQ"] == 0.5  # 100 FLOPs fit 1 % of 16000


def load_curves_frame(frame: pd.DataFrame) -> pd.DataFrame:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.csv"
        frame.to_csv(path, index=False)
        return load_curves([path])
