"""Data scaling (amips.experiments.scaling): nested subsets, coverage rows, budgets, the table; fit --retrieval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from amips.data.sets import structured_embeddings
from amips.experiments.scaling import best_within, coverage_rows, nested_subset, point_record, summarize
from amips.data.io import InputError
from amips.reporting.budgets import Budgets
from amips.index.ivf import build_ivf, load_ivf
from amips.exact.labels import exact_topk
from amips.models import load_model
from clitools import TINY_FIT, make_data, run


def test_subsets_are_nested_whole_sources_of_the_requested_size():
    source = np.repeat(np.arange(50), 3)[np.random.default_rng(0).permutation(150)]
    previous = np.array([], int)
    for n in (1, 5, 20, 50):
        rows = nested_subset(source, n, seed=4)
        assert np.unique(source[rows]).size == n and rows.size == 3 * n  # every copy of a chosen source
        assert np.isin(previous, rows).all() and (np.diff(rows) > 0).all()
        previous = rows
    assert nested_subset(source, 50).size == 150
    for bad in (0, 51, 2.5):
        with pytest.raises(InputError, match="distinct source queries"):
            nested_subset(source, bad)


def test_coverage_rows_count_the_true_list_among_the_probed_ones_and_add_the_network():
    ds = structured_embeddings(400, 200, 8, seed=2)
    keys, queries = ds.keys.astype(np.float32), ds.queries.astype(np.float32)
    top1 = exact_topk(queries, keys, 1)[1][:, 0]
    ivf = build_ivf(keys, nlist=10, seed=0)
    rows = coverage_rows(ivf, queries, top1, [1, 3, 64], network_flops=1000.0)
    assert [r["nprobe"] for r in rows] == [1, 3]  # probes above nlist are left out
    probed = np.argsort(-(queries @ ivf.index.quantizer.reconstruct_n(0, 10).T), axis=1)[:, :3]
    expected = np.mean((probed == ivf.key_list[top1][:, None]).any(axis=1))
    assert rows[1]["routing_coverage"] == pytest.approx(expected)
    assert rows[0]["flops"] == pytest.approx(2 * 8 * (10 + rows[0]["scanned_keys"]) + 1000.0)


def test_best_within_a_budget_and_the_point_record():
    rows = [{"nprobe": 1, "routing_coverage": 0.4, "flops": 10.0}, {"nprobe": 2, "routing_coverage": 0.6, "flops": 20.0}]
    assert best_within(rows, 15.0) == 0.4 and best_within(rows, 20.0) == 0.6 and np.isnan(best_within(rows, 5.0))
    record = point_record({"model": "m"}, {"match_rate": 0.5, "mrr": 0.6, "key_error_rn2": 0.7}, rows, 100.0,
                          budgets=Budgets.fractions((0.1, 0.2)))
    assert record["coverage@1"] == 0.4 and record["coverage@2"] == 0.6
    assert record["recall@1_at_0.1"] == 0.4 and record["recall@1_at_0.2"] == 0.6 and record["match_rate"] == 0.5


def test_summarize_takes_mean_and_std_over_seeds():
    points = pd.DataFrame({"dataset": "d", "model": "m", "n_queries": [10, 10, 20], "seed": [0, 1, 0],
                           "match_rate": [0.2, 0.4, 0.9]})
    out = summarize(points).set_index("n_queries")
    assert out.at[10, "match_rate_mean"] == pytest.approx(0.3) and out.at[10, "match_rate_std"] == pytest.approx(0.1)
    assert out.at[10, "seeds"] == 2 and out.at[20, "seeds"] == 1


def test_fit_with_a_retrieval_term_builds_and_keeps_its_ivf_index(tmp_path, capsys):
    data = make_data(tmp_path / "data")
    out = tmp_path / "model.pt"
    result = run(capsys, "fit", "--keys", data / "keys.npy", "--queries", data / "queries.npy", "--out", out,
                 *TINY_FIT, "--retrieval", "list_ce", "--retrieval-temperature", "0.1")
    assert result.code == 0, result.err
    ivf = load_ivf(tmp_path / "model.pt.ivf")
    assert ivf.nlist == 14 and ivf.key_list.shape == (200,)  # ⌊√200⌋ lists over the keys
    payload = torch.load(out, weights_only=False)
    assert payload["train_spec"]["retrieval"] == {"name": "list_ce", "temperature": 0.1}
    assert load_model(out, 8) is not None
    again = tmp_path / "again.pt"  # the saved index is reusable: same lists
    assert run(capsys, "fit", "--keys", data / "keys.npy", "--queries", data / "queries.npy", "--out", again,
               *TINY_FIT, "--retrieval", "list_margin", "--ivf-index", tmp_path / "model.pt.ivf").code == 0
    assert not (tmp_path / "again.pt.ivf").exists()


@pytest.mark.parametrize("args,message", [
    (["--retrieval", "list_ce", "--retrieval-margin", "0.1"], "--retrieval-margin does not apply to --retrieval list_ce"),
    (["--retrieval-weight", "2"], "--retrieval-weight needs --retrieval list_ce or list_margin"),
    (["--retrieval", "list_ce", "--retrieval-weight", "0"], "--retrieval-weight"),
])
def test_fit_retrieval_options_are_checked(tmp_path, capsys, args, message):
    data = make_data(tmp_path / "data")
    result = run(capsys, "fit", "--keys", data / "keys.npy", "--queries", data / "queries.npy",
                 "--out", tmp_path / "m.pt", *TINY_FIT, *args)
    assert result.code == 2 and message in result.err, result.err
    assert not (tmp_path / "m.pt").exists() and not (tmp_path / "m.pt.ivf").exists()
