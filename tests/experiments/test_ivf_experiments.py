"""IVF experiments beyond the paper: routed/hybrid probing, list routers (LTR, AMIPS), faiss HNSW FLOPs, break-even."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from amips.data.sets import structured_embeddings
from amips.experiments.breakeven import breakeven_n, breakeven_table
from amips.experiments.hybrid import hybrid_sweeps, split_lists
from amips.routing.list_routers import RouterData, fit_router, list_targets, train_ltr
from amips.routing.routed import centroids_of, order_from_scores, prefix_lists, routed_sweep
from amips.exact.flops import query_flops, training_flops
from amips.data.io import InputError
from amips.index.ivf import build_ivf, nprobe_grid
from amips.index.sweeps import faiss_hnsw_sweep, ivf_sweep
from amips.exact.labels import exact_topk


@pytest.fixture(scope="module")
def problem():
    ds = structured_embeddings(1500, 400, 12, num_clusters=8, seed=3)
    _, top = exact_topk(ds.queries, ds.keys, 5)
    ivf = build_ivf(ds.keys, 16, seed=0)
    return ds.keys, ds.queries, top, ivf


def test_probing_every_list_is_exact_search(problem):
    keys, queries, top, ivf = problem
    order = order_from_scores(np.random.default_rng(0).normal(size=(len(queries), ivf.nlist)))
    rows = routed_sweep(ivf, queries, prefix_lists(order), top[:, 0], [ivf.nlist], [1, 5], 0.0, 0.0)
    assert rows[0]["recall@1"] == 1.0 and rows[0]["routing_coverage"] == 1.0
    assert rows[0]["scanned_keys"] == len(keys)
    idx = ivf.scan_lists(queries, order, 5).indices
    np.testing.assert_array_equal(np.sort(idx, axis=1), np.sort(top, axis=1))


def test_centroid_router_is_plain_ivf(problem):
    keys, queries, top, ivf = problem
    router = fit_router("centroid", RouterData(keys, ivf, queries, top[:, 0], np.empty((len(queries), 0))), {}, 0,
                        None)
    assert router.flops == 2 * keys.shape[1] * ivf.nlist
    grid = nprobe_grid(ivf.nlist)
    routed = routed_sweep(ivf, queries, prefix_lists(order_from_scores(router.scores(queries))), top[:, 0], grid,
                          [1], router.flops, 0.0)
    plain = ivf_sweep(ivf, queries, top[:, 0], grid, [1])
    for r, p in zip(routed, plain):
        assert r["recall@1"] == pytest.approx(p["recall@1"])
        assert r["flops"] == pytest.approx(p["flops"])


def test_hybrid_recall_is_the_routing_coverage_of_the_predicted_key(problem):
    keys, queries, top, ivf = problem
    predicted = queries + 0.3 * np.random.default_rng(1).normal(size=queries.shape).astype(np.float32)
    rows = hybrid_sweeps(ivf, queries, predicted, top[:, 0], [1], 0.0, 0.0, [])
    projected = ivf_sweep(ivf, predicted, top[:, 0], nprobe_grid(ivf.nlist), [1])
    for h, p in zip(rows, projected):
        assert h["recall@1"] == pytest.approx(h["routing_coverage"])
        assert h["routing_coverage"] == pytest.approx(p["routing_coverage"])
        assert h["recall@1"] >= p["recall@1"]  # ranking with x never loses what probing with ĝ found


def test_hybrid_and_split_flop_accounting(problem):
    keys, queries, top, ivf = problem
    d, nlist = keys.shape[1], ivf.nlist
    rows = hybrid_sweeps(ivf, queries, queries, top[:, 0], [1], 1000.0, 0.0, [0.5])
    centroids = centroids_of(ivf)
    order = np.argsort(-(queries @ centroids.T), axis=1, kind="stable")
    for row in rows:
        p = row["nprobe"]
        # with ĝ = x both rules probe the natural order's first p lists
        scanned = ivf.list_sizes[order[:, :p]].sum(axis=1).mean()
        coarse = 2 * d * nlist * (1 if row["probe_rule"] == "hybrid" else 2)
        assert row["flops"] == pytest.approx(1000.0 + coarse + 2 * d * scanned)
        assert row["scanned_keys"] == pytest.approx(scanned)


def test_split_lists_takes_a_share_of_each_order():
    order_x = np.array([[0, 1, 2, 3, 4], [4, 3, 2, 1, 0]])
    order_g = np.array([[1, 0, 4, 3, 2], [4, 2, 0, 1, 3]])
    lists = split_lists(order_x, order_g, 0.5)
    np.testing.assert_array_equal(lists(1), [[0], [4]])
    np.testing.assert_array_equal(lists(3), [[0, 1, 4], [4, 3, 2]])
    np.testing.assert_array_equal(lists(4), [[0, 1, 4, 3], [4, 3, 2, 0]])
    np.testing.assert_array_equal(split_lists(order_x, order_g, 0.0)(3), order_g[:, :3])
    np.testing.assert_array_equal(split_lists(order_x, order_g, 1.0)(3), order_x[:, :3])
    for p in range(1, 6):
        assert all(len(set(row)) == p for row in lists(p))


def test_ltr_router_lowers_cross_entropy_and_routes_at_least_as_well_as_centroids(problem):
    keys, queries, top, ivf = problem
    data = RouterData(keys, ivf, queries, top[:, 0], np.empty((len(queries), 0)))
    centroids = centroids_of(ivf)
    weight, losses = train_ltr(queries, data.oracle_list, centroids, 300, 0.02, 256, 0)
    assert losses[-1] < 0.8 * losses[0]
    oracle = data.oracle_list
    top1_centroid = np.mean((queries @ centroids.T).argmax(axis=1) == oracle)
    top1_ltr = np.mean((queries @ weight.T).argmax(axis=1) == oracle)
    assert top1_ltr >= top1_centroid
    router = fit_router("ltr", data, {"steps": 50, "batch_size": 64, "lr": 0.02}, 0, None)
    assert router.flops == 2 * ivf.nlist * keys.shape[1]
    assert router.train_flops == 3 * router.flops * 50 * 64


def test_list_targets_hold_each_lists_best_key(problem):
    keys, queries, top, ivf = problem
    targets, _ = list_targets(queries[:50], keys, ivf)
    assert targets.shape == (50, ivf.nlist)
    assert (ivf.key_list[targets] == np.arange(ivf.nlist)).all()
    scores = np.einsum("nld,nd->nl", keys[targets], queries[:50])
    np.testing.assert_array_equal(targets[np.arange(50), scores.argmax(axis=1)], top[:50, 0])


def test_amips_router_costs_its_forward(problem, tmp_path):
    keys, queries, top, ivf = problem
    targets, _ = list_targets(queries, keys, ivf)
    from amips.exact.flops import dense_flops
    from amips.models import load_model

    d, nlist = keys.shape[1], ivf.nlist
    cfg = {"model": {"kind": "keynet", "depth": 2, "width": 16},
           "training": {"steps": 5, "batch_size": 32, "lr_peak": 1e-3, "log_every": 5}}
    router = fit_router("amips", RouterData(keys, ivf, queries, top[:, 0], targets), cfg, 0, tmp_path / "k")
    model = load_model(tmp_path / "k" / "model.pt", d)
    assert model.num_outputs == nlist
    assert router.flops == query_flops(model) == dense_flops(model) + 2 * d * nlist
    assert router.train_flops == training_flops(query_flops(model), 5, 32) == 3 * query_flops(model) * 5 * 32
    assert router.scores(queries[:7]).shape == (7, nlist)
    # a score-only SupportNet router: a forward per query, and per training sample (no key, no double backward)
    cfg = {"model": {"kind": "supportnet", "depth": 2, "width": 16},
           "training": {"steps": 5, "batch_size": 32, "lr_peak": 1e-3, "log_every": 5, "score_weight": 1.0,
                        "key_weight": 0.0}}
    router = fit_router("amips", RouterData(keys, ivf, queries, top[:, 0], targets), cfg, 0, tmp_path / "s")
    model = load_model(tmp_path / "s" / "model.pt", d)
    assert router.flops == dense_flops(model)
    assert router.train_flops == 3 * dense_flops(model) * 5 * 32


def test_residual_router_starts_as_plain_ivf_and_learns_the_list_scores(problem):
    keys, queries, top, ivf = problem
    targets, _ = list_targets(queries, keys, ivf)
    data = RouterData(keys, ivf, queries, top[:, 0], targets)
    d, nlist, rank = keys.shape[1], ivf.nlist, 8
    untrained = fit_router("residual", data, {"rank": rank, "steps": 1}, 0, None)
    np.testing.assert_allclose(untrained.scores(queries[:5]), queries[:5] @ centroids_of(ivf).T, rtol=0, atol=2e-3)
    router = fit_router("residual", data, {"rank": rank, "steps": 300, "lr": 0.01, "batch_size": 128}, 0, None)
    assert router.info["mse_final"] < 0.5 * router.info["mse_initial"]
    assert router.flops == 2 * d * nlist + 2 * rank * (d + nlist)  # coarse step + the rank-r correction
    assert router.train_flops == 3 * router.flops * 300 * 128
    best = np.einsum("nld,nd->nl", keys[targets], queries)
    assert np.abs(router.scores(queries) - best).mean() < np.abs(queries @ centroids_of(ivf).T - best).mean()


def test_unknown_router_is_an_input_error(problem):
    keys, queries, top, ivf = problem
    with pytest.raises(InputError, match="unknown list router"):
        fit_router("nope", RouterData(keys, ivf, queries, top[:, 0], top), {}, 0, None)


def test_faiss_hnsw_flops_are_counted_distances(problem):
    keys, queries, top, _ = problem
    rows = faiss_hnsw_sweep(keys, queries, top[:, 0], [4, 64], [1])
    for row in rows:
        assert row["flops"] == pytest.approx(2 * keys.shape[1] * row["distances"])
        assert 0 < row["distances"] <= len(keys)
        assert row["build_flops"] > 0 and row["build_seconds"] > 0
    assert rows[1]["distances"] > rows[0]["distances"]
    assert rows[1]["recall@1"] >= rows[0]["recall@1"]


def test_breakeven_n():
    assert breakeven_n(100.0, 1.0, 0.0, 2.0) == pytest.approx(100.0)
    assert breakeven_n(100.0, 2.0, 0.0, 2.0) == math.inf
    assert breakeven_n(0.0, 2.0, 0.0, 2.0) == 0.0
    assert math.isnan(breakeven_n(100.0, float("nan"), 0.0, 2.0))
    assert breakeven_n(100.0, 1.0, 0.0, float("nan")) == 0.0
    assert breakeven_n(10.0, 1.0, 50.0, 2.0) == 0.0


def test_breakeven_table_picks_the_cheapest_point_at_the_recall():
    rows = [("ivf natural", 1, 0.5, 10.0, 0.0), ("ivf natural", 2, 0.92, 20.0, 0.0),
            ("router x", 1, 0.91, 12.0, 800.0), ("router x", 2, 0.97, 30.0, 800.0)]
    curves = pd.DataFrame([{"dataset": "d", "method": m, "nprobe": p, "recall@1_mean": r, "flops_mean": f,
                            "seconds_mean": f, "train_flops_mean": t} for m, p, r, f, t in rows])
    table = breakeven_table(curves, [0.9, 0.95], axes=("flops",)).set_index("recall")
    assert table.at[0.9, "per_query_cost"] == 12.0 and table.at[0.9, "baseline_per_query_cost"] == 20.0
    assert table.at[0.9, "breakeven_queries"] == pytest.approx(800.0 / 8.0)
    assert table.at[0.95, "breakeven_queries"] == 0.0  # plain IVF does not reach 0.95


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c["experiments"]["list_router"].update(models=["nope"]), "list_router.models: ['nope']"),
    (lambda c: c["experiments"]["list_router"].update(homogenization="bogus"), "unknown wrapper 'bogus'"),
])
def test_ivf_experiment_config_errors_name_the_key(mutate, message):
    from pathlib import Path

    import yaml

    from amips.pipeline.config_checks import run_checks

    config = yaml.safe_load((Path(__file__).parents[1] / "config" / "config.yaml").read_text())
    run_checks(config)
    mutate(config)
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run_checks(config)


def test_list_best_scores_in_chunks_equal_the_full_gather():
    from amips.routing.list_routers import list_best_scores

    rng = np.random.default_rng(0)
    queries, keys = rng.standard_normal((1300, 5)).astype(np.float32), rng.standard_normal((40, 5)).astype(np.float32)
    best = rng.integers(0, 40, (1300, 7))
    np.testing.assert_allclose(list_best_scores(queries, keys, best, chunk=100),
                               np.einsum("nd,ncd->nc", queries, keys[best]), rtol=1e-6)


def _stage_inputs(problem, tmp_path):
    """keys.npy, a labels directory (train/test splits) and a saved IVF index, as the pipeline writes them."""
    from amips.core.fingerprint import array_digest
    from amips.data.manifest import write_manifest

    keys, queries, top, ivf = problem
    labels = tmp_path / "labels"
    labels.mkdir()
    np.save(tmp_path / "keys.npy", keys)
    for split, rows in (("train", slice(0, 300)), ("test", slice(300, 400))):
        np.save(labels / f"{split}_queries.npy", queries[rows])
        np.save(labels / f"{split}_targets.npy", top[rows, :1])
    write_manifest(labels, "labels", [f"{s}_{a}.npy" for s in ("train", "test") for a in ("queries", "targets")],
                   {"keys": array_digest(np.asarray(keys, np.float32))}, {})
    ivf.save(tmp_path / "index.faiss")
    return tmp_path / "keys.npy", labels, tmp_path / "index.faiss"


def test_shared_list_targets_feed_the_router_stage_and_are_checked(problem, tmp_path):
    from amips.pipeline.stages.ivf_experiments import list_router, load_list_targets, write_list_targets

    keys_path, labels, index = _stage_inputs(problem, tmp_path)
    out = tmp_path / "lists" / "list_targets.npy"
    out.parent.mkdir()
    meta = write_list_targets(keys_path, labels, index, out)
    keys, queries, _, ivf = problem
    np.testing.assert_array_equal(np.load(out), list_targets(queries[:300], keys, ivf)[0])
    assert meta["num_rows"] == 300 and meta["nlist"] == ivf.nlist and meta["label_seconds"] > 0
    assert meta["label_flops"] == 300 * 2 * keys.shape[0] * keys.shape[1]

    cfg = {"rank": 4, "steps": 20, "batch_size": 64, "k_values": [1]}
    shared = list_router("residual", keys_path, labels, index, tmp_path / "a.csv", cfg, {"seed": 0}, tmp_path / "a",
                         list_targets_path=out)
    own = list_router("residual", keys_path, labels, index, tmp_path / "b.csv", cfg, {"seed": 0}, tmp_path / "b")
    assert [r["recall@1"] for r in shared] == [r["recall@1"] for r in own]  # the same labels, read or computed
    assert shared[0]["label_seconds"] == meta["label_seconds"]

    wrong = np.load(out)
    wrong[:, [0, 1]] = wrong[:, [1, 0]]  # columns swapped: entries no longer lie in their list
    np.save(out, wrong)
    with pytest.raises(InputError, match="do not match the IVF index's lists"):
        load_list_targets(out, ivf, 300)
    with pytest.raises(InputError, match=r"expected int \[299, 16\]"):
        load_list_targets(out, ivf, 299)
