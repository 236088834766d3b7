"""IVF with projected queries, cluster routing, FLOP counts and the equal-compute tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from amips.exact.clustering import kmeans
from amips.data.sets import structured_embeddings
from amips.exact.flops import dense_flops, exact_search_flops, query_flops
from amips.index.ivf import build_ivf, nprobe_grid
from amips.index.sweeps import exact_search_row, ivf_sweep
from amips.exact.labels import exact_topk, per_cluster_top1
from amips.models import ModelSpec, build_model, parameter_count
from amips.routing.clusters import centroid_scores, routing_curve
from amips.reporting.budgets import Budgets, best_within_budget
from amips.reporting.tables import aggregate_ivf, aggregate_router, summarize_curves


@pytest.fixture(scope="module")
def data():
    ds = structured_embeddings(2000, 300, 16, num_clusters=10, seed=1)
    _, top1 = exact_topk(ds.queries, ds.keys, 1)
    return ds.keys, ds.queries, top1[:, 0]


@pytest.mark.parametrize("homogenization", ["radial", "gauge"])
def test_dense_flops_count_every_matmul_weight(homogenization):
    model = build_model(ModelSpec(kind="keynet", depth=3, wx_inject=2, width=10, homogenization=homogenization), 6, 100)
    biases = sum(p.numel() for n, p in model.named_parameters() if "bias" in n)
    assert dense_flops(model) == 2 * (parameter_count(model) - biases)
    assert query_flops(model) == dense_flops(model) + 2 * 6


def test_supportnet_key_costs_a_backward_per_output():
    model = build_model(ModelSpec(kind="supportnet", depth=2, width=8, num_outputs=3), 6, 100)
    assert query_flops(model, with_key=False) == dense_flops(model)
    assert query_flops(model) == 4 * dense_flops(model)
    assert exact_search_flops(1000, 6) == 12000


def test_ivf_recall_grows_with_probes_and_is_exact_at_all_lists(data):
    keys, queries, top1 = data
    ivf = build_ivf(keys, nlist=16)
    assert ivf.nlist == 16 and ivf.list_sizes.sum() == len(keys)
    grid = nprobe_grid(16)
    assert grid == [1, 2, 4, 8, 16]
    rows = ivf_sweep(ivf, queries, top1, grid, [1, 5])
    recalls = [r["recall@1"] for r in rows]
    assert all(a <= b + 1e-9 for a, b in zip(recalls, recalls[1:]))
    assert recalls[-1] == 1.0 and rows[-1]["scanned_keys"] == len(keys)
    assert all(r["recall@5"] >= r["recall@1"] for r in rows)
    assert rows[0]["flops"] == pytest.approx(2 * 16 * (16 + rows[0]["scanned_keys"]))


def test_projected_query_costs_include_the_network(data):
    keys, queries, top1 = data
    ivf = build_ivf(keys, nlist=16)
    base = ivf_sweep(ivf, queries, top1, [2], [1])[0]
    extra = ivf_sweep(ivf, queries, top1, [2], [1], extra_flops=1000.0, extra_seconds=1.0)[0]
    assert extra["flops"] == pytest.approx(base["flops"] + 1000.0) and extra["seconds"] > 1.0


def test_projecting_with_the_true_key_beats_the_natural_query(data):
    """The ideal projection (the argmax key itself) lands in the right list far more often than x does."""
    keys, queries, top1 = data
    ivf = build_ivf(keys, nlist=32)
    natural = ivf_sweep(ivf, queries, top1, [1], [1])[0]["recall@1"]
    oracle = ivf_sweep(ivf, keys[top1], top1, [1], [1])[0]["recall@1"]
    assert oracle > natural and oracle > 0.9


def test_exact_row_has_full_recall(data):
    keys, queries, _ = data
    row = exact_search_row(keys, queries, [1, 10])
    assert row["recall@1"] == 1.0 and row["flops"] == 2 * 2000 * 16


def test_routing_curve_with_true_scores_is_perfect_and_centroids_are_not(data):
    keys, queries, _ = data
    clustering = kmeans(keys, 8, seed=0)
    targets = per_cluster_top1(queries, keys, clustering.assignments, 8)
    true_scores = np.einsum("ncd,nd->nc", keys[targets], queries)
    sizes = np.bincount(clustering.assignments, minlength=8)
    oracle = routing_curve(true_scores, true_scores, sizes, 16, 0.0)
    assert oracle[0]["match_rate"] == 1.0
    cent = routing_curve(centroid_scores(queries, clustering.centroids), true_scores, sizes, 16, 2.0 * 16 * 8)
    rates = [r["match_rate"] for r in cent]
    assert rates[-1] == 1.0 and rates[0] < 1.0 and all(a <= b for a, b in zip(rates, rates[1:]))
    assert cent[-1]["fraction_scanned"] == pytest.approx(1.0)
    assert cent[0]["flops"] == pytest.approx(2 * 16 * 8 + 2 * 16 * cent[0]["fraction_scanned"] * len(keys))


def test_learned_router_training_targets_feed_routing(data):
    """A router trained briefly routes better than chance (sanity of the multi-output pipeline)."""
    from amips.training.train import TrainData, TrainSpec, train_model

    keys, queries, _ = data
    clustering = kmeans(keys, 4, seed=0)
    q = np.repeat(queries, 4, axis=0) + np.random.default_rng(0).standard_normal((1200, 16)).astype(np.float32) * 0.05
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    targets = per_cluster_top1(q, keys, clustering.assignments, 4)
    model = build_model(ModelSpec(kind="supportnet", depth=2, wx_inject=2, width=32, num_outputs=4), 16, 2000)
    result = train_model(model, TrainData(torch.from_numpy(q), torch.from_numpy(targets), torch.from_numpy(keys)),
                         TrainSpec(steps=300, batch_size=128, lr_peak=5e-3, warmup_steps=10, ema_decay=0.9,
                                   select="last"))
    with torch.no_grad():
        scores = result.ema_model(torch.from_numpy(queries)).numpy()
    test_targets = per_cluster_top1(queries, keys, clustering.assignments, 4)
    true_scores = np.einsum("ncd,nd->nc", keys[test_targets], queries)
    curve = routing_curve(scores, true_scores, np.bincount(clustering.assignments), 16, 0.0)
    assert curve[0]["match_rate"] > 0.5  # chance is about 0.25


def test_best_within_budget_and_aggregation(tmp_path):
    frames = [pd.DataFrame({"dataset": "d", "method": m, "nprobe": [1, 2, 4], "seed": s,
                            "recall@1": np.array([0.2, 0.5, 0.9]) + 0.01 * s, "flops": [10.0, 20.0, 40.0],
                            "seconds": [1.0, 2.0, 4.0]}) for m in ("ivf natural", "ivf keynet (radial)") for s in (0, 1)]
    frames.append(pd.DataFrame({"dataset": ["d"], "method": ["exact"], "recall@1": [1.0], "flops": [100.0],
                                "seconds": [10.0]}))
    curves = summarize_curves(frames, ("dataset", "method", "nprobe"), ("recall@1", "flops", "seconds"))
    natural = curves[curves["method"] == "ivf natural"]
    assert natural["n_seeds"].tolist() == [2, 2, 2] and np.isclose(natural["recall@1_mean"].iloc[0], 0.205)
    best = best_within_budget(curves[curves["method"] != "exact"], "flops", "recall@1",
                              Budgets.absolute([5.0, 25.0]))
    row = best[(best["method"] == "ivf natural") & (best["flops_budget"] == 25.0)].iloc[0]
    assert np.isclose(row["recall@1_mean"], 0.505)
    assert best[best["flops_budget"] == 5.0]["recall@1_mean"].isna().all()
    paths = []
    for i, frame in enumerate(frames):
        paths.append(tmp_path / f"{i}.csv")
        frame.to_csv(paths[-1], index=False)
    aggregate_ivf(paths, tmp_path / "ivf.csv", tmp_path / "ivf.md", Budgets.fractions((0.01, 0.1, 0.5)))
    md = (tmp_path / "ivf.md").read_text()
    assert "At equal FLOPs" in md and "At equal wall-clock" in md and "ivf natural" in md


def test_router_aggregation(tmp_path):
    rows = pd.DataFrame({"dataset": "d", "method": "centroid routing", "clusters_probed": [1, 2],
                         "match_rate": [0.6, 1.0], "fraction_scanned": [0.5, 1.0], "flops": [5.0, 9.0]})
    rows.to_csv(tmp_path / "r.csv", index=False)
    curves = aggregate_router([tmp_path / "r.csv"], tmp_path / "router.csv", tmp_path / "router.md")
    assert len(curves) == 2 and "centroid routing" in (tmp_path / "router.md").read_text()


def test_ivf_index_round_trip_and_corrupt_file(data, tmp_path):
    from amips.data.io import InputError
    from amips.index.ivf import load_ivf

    keys, queries, top1 = data
    ivf = build_ivf(keys, nlist=16)
    ivf.save(tmp_path / "index.faiss")
    loaded = load_ivf(tmp_path / "index.faiss")
    np.testing.assert_array_equal(loaded.list_sizes, ivf.list_sizes)
    assert ivf_sweep(loaded, queries, top1, [2], [1])[0]["recall@1"] == ivf_sweep(ivf, queries, top1, [2], [1])[0]["recall@1"]
    (tmp_path / "bad.faiss").write_bytes(b"not an index")
    with pytest.raises(InputError, match="corrupt"):
        load_ivf(tmp_path / "bad.faiss")
    with pytest.raises(InputError, match="not found"):
        load_ivf(tmp_path / "missing.faiss")
