"""Index families with the natural query vs the predicted key (amips.experiments.index_families, issue 19): every
search against brute force, every memory and FLOPs count against a hand count, the MIPS-to-L2 reduction exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

faiss = pytest.importorskip("faiss")

from amips.exact.labels import exact_topk  # noqa: E402
from amips.exact.order import rerank_candidates  # noqa: E402
from amips.experiments import index_families as F  # noqa: E402
from amips.index.base import EVERY  # noqa: E402
from amips.index.hnsw import HnswIndex  # noqa: E402
from amips.index.ivf import IvfFlatIndex  # noqa: E402
from amips.index.pq import IvfPqIndex, PqIndex, Sq8Index  # noqa: E402
from amips.index.reduction import MipsToL2, augment_queries, mips_to_l2  # noqa: E402


@pytest.fixture(autouse=True)
def _one_faiss_thread():
    faiss.omp_set_num_threads(1)


def _problem(m=1000, d=16, n=200, seed=0, spread=10.0):
    """Keys with norms spread by ``spread``× (true MIPS), queries, and their exact top-10 (the labels' order)."""
    rng = np.random.default_rng(seed)
    keys = rng.standard_normal((m, d)) * np.geomspace(1.0, spread, m)[rng.permutation(m)][:, None]
    keys = keys.astype(np.float32)
    queries = rng.standard_normal((n, d)).astype(np.float32)
    top = exact_topk(queries, keys, 10)[1]
    return keys, queries, np.asarray(top, np.int64)


CFG = {"repeats": 1, "k_values": [1, 10]}


# --- the MIPS-to-L2 reduction ------------------------------------------------------------------------------------

def test_mips_to_l2_nearest_augmented_key_is_the_mips_argmax_exactly():
    keys, queries, top = _problem(m=1500, d=24, n=400, spread=10.0)
    norms = np.linalg.norm(keys.astype(np.float64), axis=1)
    assert norms.max() / norms.min() > 9.0
    aug, top_norm = mips_to_l2(keys)
    assert aug.shape == (1500, 25) and top_norm == pytest.approx(norms.max())
    assert np.allclose(np.linalg.norm(aug.astype(np.float64), axis=1), top_norm, rtol=1e-6)  # all on one sphere
    q = augment_queries(queries).astype(np.float64)
    a = aug.astype(np.float64)
    l2 = (q * q).sum(1)[:, None] + (a * a).sum(1)[None, :] - 2 * q @ a.T
    np.testing.assert_array_equal(l2.argmin(axis=1), top[:, 0])
    flat = faiss.IndexFlatL2(25)
    flat.add(aug)
    np.testing.assert_array_equal(flat.search(augment_queries(queries), 1)[1][:, 0], top[:, 0])


def test_reduction_ivf_flat_at_all_probes_is_brute_force_and_hnsw_converges():
    keys, queries, top = _problem(m=1000, d=16, spread=10.0)
    ivf = MipsToL2(IvfFlatIndex(metric="l2", repeats=1)).build(keys)
    res = ivf.search(queries, 10, ivf.index.nlist)
    np.testing.assert_array_equal(res.indices, top)
    nlist = ivf.index.nlist
    assert res.cost.flops == pytest.approx(2 * 17 * (nlist + 1000)) and res.cost.distances == pytest.approx(nlist + 1000)
    hnsw = MipsToL2(HnswIndex("l2", 16, 100, repeats=1)).build(keys)
    rows = F.sweep(hnsw, "x l2-reduction", queries, top[:, 0], {**CFG, "ef": [1000]})
    assert rows[0]["recall@1"] >= 0.99 and rows[0]["dim"] == 16


# --- every family against brute force -------------------------------------------------------------------------

def test_hnsw_natural_and_predicted_queries_at_large_ef_match_brute_force():
    keys, queries, top = _problem(m=1000, d=16, spread=1.0)
    predicted = keys[top[:, 0]] + 0.01 * np.random.default_rng(1).standard_normal(queries.shape).astype(np.float32)
    for metric, method in (("ip", "x"), ("ip", "ĝ ip"), ("l2", "ĝ l2")):
        family = HnswIndex(metric, 16, 100, repeats=1).build(keys)
        g = predicted if method != "x" else None
        (row,) = F.sweep(family, method, queries, top[:, 0], {**CFG, "ef": [1000]}, g)
        assert row["recall@1"] >= 0.99, (metric, method, row)
        # every key once at level 0, plus the greedy descent's distances on the upper levels (a few dozen)
        assert 0 < row["hops"] and row["distances"] <= 1100 + (1000 if g is not None else 0)
    res = HnswIndex("ip", 16, 100, repeats=1).build(keys).search(predicted, 10, 1000, EVERY, queries)
    assert res.cost.reranked == 1000  # every candidate of ef = m re-ranked with x: the exact top-10
    np.testing.assert_array_equal(res.indices, top)


@pytest.mark.parametrize("family", [PqIndex(8, repeats=1), Sq8Index(repeats=1)], ids=["pq", "sq8"])
def test_exhaustive_codes_with_exact_rerank_of_all_keys_equal_brute_force(family):
    keys, queries, top = _problem(m=1000, d=16, spread=3.0)
    family.build(keys)
    res = family.search(queries, 10, rerank=1000, queries=queries)
    np.testing.assert_array_equal(res.indices, top)
    res = family.search(queries, 10)  # code scores alone: approximate, but most top-1 found
    assert np.mean(res.indices[:, 0] == top[:, 0]) > (0.9 if family.name == "sq8" else 0.3)


def test_ivf_pq_all_lists_and_exact_rerank_of_all_keys_equal_brute_force():
    keys, queries, top = _problem(m=1000, d=16, spread=3.0)
    family = IvfPqIndex(8, repeats=1).build(keys)
    nlist = family.index.nlist
    assert nlist == 31  # ⌊√1000⌋
    for probe in (None, queries[::-1].copy()):  # probing with another vector: all lists are all lists
        res = family.search(queries, 10, nlist, 1000, queries, route=probe)
        np.testing.assert_array_equal(res.indices, top)
    # probing with x, scanning with x at all lists = faiss' own search at nprobe = nlist
    family.index.nprobe = nlist
    ours = family.search(queries, 10, nlist)
    np.testing.assert_array_equal(ours.indices, family.index.search(queries, 10)[1])


def test_one_scan_shared_by_every_rerank_depth_gives_each_depth_its_own_search():
    keys, queries, _ = _problem(m=800, d=16, spread=3.0)
    family = IvfPqIndex(4, repeats=1).build(keys)
    shared = family.search_reranks(queries, 10, 4, [0, 10, 50], queries, route=queries[::-1].copy())
    for rerank, res in zip([0, 10, 50], shared):
        alone = family.search(queries, 10, 4, rerank, queries, route=queries[::-1].copy())
        np.testing.assert_array_equal(res.indices, alone.indices)
        assert (res.cost.flops, res.cost.distances, res.cost.codes, res.cost.reranked) == (
            alone.cost.flops, alone.cost.distances, alone.cost.codes, alone.cost.reranked)


def test_predicted_key_rows_are_misses_where_the_key_is_not_finite():
    keys, queries, top = _problem(m=600, d=8)
    predicted = keys[top[:, 0]].copy()
    predicted[:10] = np.nan
    family = Sq8Index(repeats=1).build(keys)
    (row,) = F.sweep(family, "ĝ ip", queries, top[:, 0], {**CFG, "rerank": [600]}, predicted)
    assert row["non_finite_queries"] == 10 and row["recall@1"] == pytest.approx(1 - 10 / len(queries))


# --- memory ---------------------------------------------------------------------------------------------------

def test_pq_memory_is_codes_plus_codebooks_and_matches_faiss():
    keys, _, _ = _problem(m=1000, d=32, n=10)
    family = PqIndex(8, repeats=1).build(keys)
    hand = 8 + 256 * 32 * 4 / 1000  # 8 code bytes; IndexPQ stores no ids; 8 codebooks of 256 × 4 floats
    assert family.bytes_per_key(1000, 32) == pytest.approx(hand)
    assert abs(family.serialized_bytes() / 1000 - hand) < 0.2  # the header: < 200 bytes in all


def test_ivf_pq_memory_counts_codes_ids_centroids_and_codebooks():
    keys, _, _ = _problem(m=1000, d=32, n=10)
    family = IvfPqIndex(8, repeats=1).build(keys)
    hand = 8 + 8 + 4 * 32 * (31 + 256) / 1000  # code + int64 id + (31 centroids + 256·d codebook floats) / m
    assert family.bytes_per_key(1000, 32) == pytest.approx(hand)
    assert abs(family.serialized_bytes() / 1000 - hand) < 0.5  # + a list size (8 B) per list and the header


def test_sq8_and_reduction_ivf_memory_match_faiss():
    keys, _, _ = _problem(m=1000, d=32, n=10)
    sq8 = Sq8Index(repeats=1).build(keys)
    assert sq8.bytes_per_key(1000, 32) == pytest.approx(32 + 2 * 4 * 32 / 1000)
    assert abs(sq8.serialized_bytes() / 1000 - sq8.bytes_per_key(1000, 32)) < 0.2
    ivf = MipsToL2(IvfFlatIndex(metric="l2", repeats=1)).build(keys)
    hand = 4 * 33 + 8 + 4 * 33 * 31 / 1000
    assert ivf.bytes_per_key(1000, 32) == pytest.approx(hand)
    assert abs(ivf.serialized_bytes() / 1000 - hand) < 0.5


def test_hnsw_memory_expectation_matches_the_built_graph():
    keys, _, _ = _problem(m=2000, d=16, n=10)
    family = HnswIndex("ip", 8, 100, repeats=1).build(keys)
    links = 2 * 8 + 8 / 7  # 2M slots at level 0, M per upper level, 1/(M − 1) upper levels per key on average
    assert family.bytes_per_key(2000, 16) == pytest.approx(4 * 16 + 4 * links + 4 + 8)
    assert family.link_bytes() == pytest.approx(4 * links, rel=0.03)
    assert family.serialized_bytes() / 2000 == pytest.approx(family.bytes_per_key(2000, 16), rel=0.03)


def test_row_memory_adds_float_keys_for_compressed_reranks_and_the_network():
    keys, queries, top = _problem(m=1000, d=32, n=50)
    family = PqIndex(8, repeats=1).build(keys)
    rows = F.sweep(family, "ĝ ip", queries, top[:, 0], {**CFG, "rerank": [0, 10]}, keys[top[:, 0]],
                   {"flops": 1000.0, "seconds": 0.0, "parameters": 5000})
    codes = 8 + 256 * 32 * 4 / 1000
    assert rows[0]["memory_bytes"] == pytest.approx(codes + 4 * 5000 / 1000)  # R = 0: codes + network
    assert rows[1]["memory_bytes"] == pytest.approx(codes + 4 * 32 + 4 * 5000 / 1000)  # + the float keys
    hnsw = HnswIndex("ip", 8, 100, repeats=1)
    assert F.row_memory(hnsw, 1000, 32, True)["rerank_key_bytes"] == 0  # HNSW holds the float keys already


# --- FLOPs ----------------------------------------------------------------------------------------------------

def test_flops_by_hand_on_tiny_indexes():
    rng = np.random.default_rng(3)
    m, d = 300, 8
    keys = rng.standard_normal((m, d)).astype(np.float32)
    queries = rng.standard_normal((7, d)).astype(np.float32)
    pq = PqIndex(4, repeats=1).build(keys)
    assert pq.search(queries, 1).cost.flops == 2 * 256 * 8 + 4 * 300  # ADC table + M adds per code
    res = pq.search(queries, 1, rerank=5, queries=queries).cost
    assert res.flops == 2 * 256 * 8 + 4 * 300 + 2 * 8 * 5 and res.distances == 5 and res.codes == 300
    sq8 = Sq8Index(repeats=1).build(keys)
    assert sq8.search(queries, 1).cost.flops == 4 * 8 * 300
    ivf = IvfPqIndex(4, repeats=1).build(keys)
    nlist = ivf.index.nlist
    assert nlist == 17
    _, lists = ivf.index.quantizer.search(queries, 2)
    sizes = np.array([ivf.index.invlists.list_size(int(i)) for i in range(nlist)])
    codes = sizes[lists].sum(axis=1).mean()
    res = ivf.search(queries, 1, 2, 3, queries).cost
    assert res.codes == pytest.approx(codes)
    assert res.flops == pytest.approx(2 * 8 * 17 + 2 * 256 * 8 + 4 * codes + 2 * 8 * 3)
    hybrid = ivf.search(queries, 1, 2, route=queries).cost  # + x's scores of the 2 probed centroids
    assert hybrid.flops == pytest.approx(2 * 8 * (17 + 2) + 2 * 256 * 8 + 4 * codes)


def test_hnsw_flops_count_every_distance_on_a_complete_graph():
    """20 keys and M = 32: one level, every key linked to every other; a search computes each key's distance once
    (the entry point's, which faiss leaves out of ndis, included)."""
    rng = np.random.default_rng(0)
    keys = rng.standard_normal((20, 8)).astype(np.float32)
    queries = rng.standard_normal((5, 8)).astype(np.float32)
    family = HnswIndex("ip", 32, 100, repeats=1).build(keys)
    assert (faiss.vector_to_array(family.index.hnsw.levels) == 1).all()
    res = family.search(queries, 1, 64).cost
    assert res.distances == 20 and res.flops == 2 * 8 * 20
    res = family.search(queries, 1, 64, EVERY, queries).cost  # ĝ = x here: every key found is re-ranked
    assert res.reranked == 20 and res.flops == 2 * 8 * 20 + 2 * 8 * 20
    (row,) = F.sweep(family, "ĝ ip", queries, np.zeros(5, np.int64), {**CFG, "ef": [64]}, queries,
                     {"flops": 100.0, "seconds": 1e-6, "parameters": 0})
    assert row["flops"] == 2 * 8 * 40 + 100 and row["network_flops"] == 100 and row["rerank"] == 64


def test_rerank_exact_breaks_ties_by_the_lower_index():
    keys = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], np.float32)
    queries = np.array([[1.0, 0.0]], np.float32)
    assert rerank_candidates(queries, keys, np.array([[2, 1, 0, -1]]), 3).tolist() == [[0, 1, 2]]
    assert rerank_candidates(queries, keys, np.array([[-1, 2]]), 2).tolist() == [[2, -1]]


def test_settings_refuse_unknown_families_and_skip_code_sizes_that_do_not_divide_d():
    from amips.data.io import InputError

    with pytest.raises(InputError, match="unknown"):
        F.settings({"families": ["hnsw_ip", "annoy"]})
    families = F.make_families({"families": ["pq", "ivf_pq"], "pq_m": [4, 5]}, dim=16)
    assert [f.label for f in families] == ["pq_M4", "ivf_pq_M4"]
    assert [f.name for f in F.make_families({}, 16, learned=True)] == ["hnsw_ip", "hnsw_l2", "ivf_pq", "pq", "sq8"]


# --- the file-level stages ------------------------------------------------------------------------------------

def test_stages_write_baselines_learned_rows_and_the_seed_table(tmp_path, capsys):
    from clitools import TINY_MODEL, make_data, run

    from amips.pipeline.stages import index_families as S
    from amips.pipeline.stages.labels import make_labels

    data = make_data(tmp_path / "data", num_keys=600, num_queries=300, dim=16)
    make_labels(data, tmp_path / "labels", {"noise_copies": 1, "test_size": 0.3})
    cfg = {"families": ["hnsw_ip", "hnsw_l2", "ivf_pq", "sq8", "hnsw_mips_l2", "ivf_flat_mips_l2"], "hnsw_m": 8,
           "ef": [8, 64], "pq_m": [4], "nprobes": [1, 24], "rerank": [0, 10], "repeats": 1}
    keys = data / "keys.npy"
    base = S.baselines(keys, tmp_path / "labels", tmp_path / "baselines.csv", tmp_path / "indexes", cfg, "tiny")
    assert set(base["method"]) == {"x", "x l2-reduction"} and (base["run_id"] == "").all()
    exact = base[(base["index"] == "ivf_flat_mips_l2") & (base["param"] == 24)]
    assert (exact["recall@1"] == 1.0).all()  # all lists of the reduction: exact
    assert sorted(p.name for p in (tmp_path / "indexes").iterdir() if not p.name.startswith(".")) == [
        "hnsw_ip.faiss", "hnsw_l2.faiss", "indexes.json", "ivf_pq_M4.faiss", "sq8.faiss"]
    files = [tmp_path / "baselines.csv"]
    for seed in (0, 1):
        out = tmp_path / f"run{seed}"
        assert run(capsys, "train", "--data", data, "--labels", tmp_path / "labels", "--out", out, *TINY_MODEL,
                   "--steps", 20, "--batch-size", 32, "--threads", 1, "--seed", seed, "--quiet").code == 0
        runinfo = {"dataset": "tiny", "task": "mips", "model": "keynet", "homogenization": "none",
                   "parameters_fraction": 0.1, "seed": seed}
        rows = S.learned(out / "model.pt", keys, tmp_path / "labels", tmp_path / "indexes",
                         out / "index_families.csv", cfg, runinfo)
        assert set(rows["method"]) == {"ĝ ip", "ĝ l2", "ĝ probe"}
        assert (rows["network_flops"] > 0).all() and (rows["network_bytes"] > 0).all()
        assert (rows["run_id"] == "keynet/none/frac0.1").all()
        files.append(out / "index_families.csv")
    summary = S.aggregate(files, tmp_path / "t.csv", tmp_path / "t.md", tmp_path / "t.png")
    learned_rows = summary[summary["run_id"] != ""]
    assert (learned_rows["n_seeds"] == 2).all() and (summary[summary["run_id"] == ""]["n_seeds"] == 1).all()
    assert {"recall@1", "recall@1_std", "flops", "memory_bytes", "timing"} <= set(pd.read_csv(tmp_path / "t.csv"))
    assert "| tiny | hnsw_ip | ĝ ip | keynet/none/frac0.1 |" in (tmp_path / "t.md").read_text()
    assert (tmp_path / "t.png").stat().st_size > 0
