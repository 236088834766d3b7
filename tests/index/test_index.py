"""The one interface of every index family (amips.index): build, search, save / load round trips refused for other
keys, the costs by hand, and the one exact re-rank of amips.exact.order."""

from __future__ import annotations

import numpy as np
import pytest

faiss = pytest.importorskip("faiss")

from amips.data.io import InputError  # noqa: E402
from amips.exact.labels import exact_topk  # noqa: E402
from amips.exact.order import rerank_candidates, select_topk, within_margin  # noqa: E402
from amips.index.base import EVERY  # noqa: E402
from amips.index.exact import ExactIndex  # noqa: E402
from amips.index.hnsw import HnswIndex  # noqa: E402
from amips.index.ivf import IvfFlatIndex  # noqa: E402
from amips.index.pq import IvfPqIndex, PqIndex, Sq8Index  # noqa: E402
from amips.index.reduction import MipsToL2  # noqa: E402


@pytest.fixture(autouse=True)
def _one_faiss_thread():
    faiss.omp_set_num_threads(1)


def _problem(m=1000, d=16, n=100, seed=0):
    rng = np.random.default_rng(seed)
    keys = (rng.standard_normal((m, d)) * np.geomspace(1.0, 3.0, m)[:, None]).astype(np.float32)
    queries = rng.standard_normal((n, d)).astype(np.float32)
    return keys, queries, exact_topk(queries, keys, 10)[1]


FAMILIES = {  # name → (a new index, its exhaustive operating point: (probe, rerank))
    "ivf_flat": (lambda: IvfFlatIndex(), lambda ix: (ix.nlist, 0)),
    "hnsw_ip": (lambda: HnswIndex("ip", 16, 100), lambda ix: (1000, EVERY)),
    "ivf_pq": (lambda: IvfPqIndex(8), lambda ix: (ix.nlist, 1000)),
    "pq": (lambda: PqIndex(8), lambda ix: (None, 1000)),
    "sq8": (lambda: Sq8Index(), lambda ix: (None, 1000)),
    "hnsw_mips_l2": (lambda: MipsToL2(HnswIndex("l2", 16, 100)), lambda ix: (1000, 0)),
    "ivf_flat_mips_l2": (lambda: MipsToL2(IvfFlatIndex(metric="l2")), lambda ix: (ix.inner.nlist, 0)),
    "exact": (lambda: ExactIndex(), lambda ix: (None, 0)),
}


@pytest.mark.parametrize("name", FAMILIES)
def test_every_family_builds_searches_and_round_trips_checked_against_its_keys(name, tmp_path):
    make, exhaustive = FAMILIES[name]
    keys, queries, top = _problem()
    index = make().build(keys)
    assert index.name == name and index.num_keys == 1000
    probe, rerank = exhaustive(index)
    found = index.search(queries, 10, probe, rerank, queries)
    hits = np.mean(found.indices[:, 0] == top[:, 0])
    assert found.indices.shape == (100, 10) and hits >= 0.99, hits
    assert found.seconds > 0 and found.cost.flops > 0
    path = tmp_path / f"{name}.faiss"
    index.save(path)
    again = make().load(path, keys)
    np.testing.assert_array_equal(again.search(queries, 10, probe, rerank, queries).indices, found.indices)
    other = keys.copy()
    other[17] = keys[3]  # same shape, one row another key's
    reduced = "(the reduced )?--keys"  # the reduction checks the augmented keys [m, d + 1]
    with pytest.raises(InputError, match=f"built over other keys than {reduced} .same 1000 × 1[67], key row 17 differs"):
        make().load(path, other)
    with pytest.raises(InputError, match=f"built over 1000 keys, {reduced} has 999"):
        make().load(path, keys[:999])


def test_a_file_of_another_family_or_metric_is_refused_in_one_line(tmp_path):
    keys, _, _ = _problem(m=300)
    HnswIndex().build(keys).save(tmp_path / "h.faiss")
    with pytest.raises(InputError, match=r"h.faiss: an HNSW index \(IndexHNSWFlat\), not the IVF index"):
        IvfFlatIndex().load(tmp_path / "h.faiss", keys)
    HnswIndex("l2").build(keys).save(tmp_path / "l2.faiss")
    with pytest.raises(InputError, match="with metric L2; hnsw_ip needs inner product"):
        HnswIndex().load(tmp_path / "l2.faiss", keys)
    (tmp_path / "junk.faiss").write_bytes(b"junk" * 50)
    with pytest.raises(InputError, match="not a faiss index file"):
        PqIndex(4).load(tmp_path / "junk.faiss", keys)


def test_open_builds_once_then_reads_and_refuses_other_settings(tmp_path):
    keys, queries, _ = _problem(m=400)
    path = tmp_path / "ivf.faiss"
    built, fresh = IvfFlatIndex(10).open(path, keys)
    assert fresh and built.nlist == 10
    read, fresh = IvfFlatIndex().open(path, keys)
    assert not fresh and read.nlist == 10
    np.testing.assert_array_equal(read.search(queries, 5, 3).indices, built.search(queries, 5, 3).indices)
    with pytest.raises(InputError, match="--nlist 12: --index .* was built with 10 lists"):
        IvfFlatIndex(12).open(path, keys)
    HnswIndex(m_links=8).open(tmp_path / "h.faiss", keys)
    with pytest.raises(InputError, match="--hnsw-m 16: --index .* was built with M 8"):
        HnswIndex(m_links=16).open(tmp_path / "h.faiss", keys)


def test_ivf_flat_and_exact_costs_by_hand():
    keys, queries, _ = _problem(m=500, d=8, n=20)
    ivf = IvfFlatIndex(22).build(keys)
    lists = ivf.index.quantizer.search(queries, 3)[1]
    sizes = np.array([ivf.index.invlists.list_size(i) for i in range(22)])
    scanned = sizes[lists].sum(axis=1).mean()
    found = ivf.search(queries, 1, 3)
    np.testing.assert_array_equal(found.lists, lists)
    assert found.cost.scanned == pytest.approx(scanned) and found.cost.distances == pytest.approx(22 + scanned)
    assert found.cost.flops == pytest.approx(2 * 8 * (22 + scanned))
    assert ivf.bytes_per_key(500, 8) == pytest.approx(4 * 8 + 8 + 4 * 8 * 22 / 500)
    assert abs(ivf.serialized_bytes() / 500 - ivf.bytes_per_key(500, 8)) < 8 * 22 / 500 + 0.3  # + list sizes
    exact = ExactIndex().build(keys).search(queries, 3)
    assert exact.cost.flops == 2 * 500 * 8 and exact.cost.distances == 500
    assert ExactIndex().bytes_per_key(500, 8) == 4 * 8


def test_ivf_probed_by_another_vector_and_ranked_by_the_query_is_exact_at_all_lists():
    keys, queries, top = _problem(m=600, d=8, n=50)
    ivf = IvfFlatIndex().build(keys)
    route = np.random.default_rng(5).standard_normal(queries.shape).astype(np.float32)
    found = ivf.search(route, 10, ivf.nlist, EVERY, queries)
    np.testing.assert_array_equal(found.indices, top)
    with pytest.raises(InputError, match="needs the queries"):
        ivf.search(route, 10, ivf.nlist, EVERY)
    with pytest.raises(InputError, match=f"must be between 1 and the index's {ivf.nlist} lists"):
        ivf.search(queries, 10, ivf.nlist + 1)


def test_the_one_exact_top_k_pads_or_refuses_short_rows():
    keys = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], np.float32)
    queries = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    rows, cols = np.array([0, 0, 0, 1]), np.array([2, 1, 0, 2])
    scores, top = select_topk(queries, keys, rows, cols, 2, 2, pad=True)
    assert top.tolist() == [[0, 1], [2, -1]] and scores[1, 1] == -np.inf
    with pytest.raises(RuntimeError, match="fewer than k candidates"):
        select_topk(queries, keys, rows, cols, 2, 2)
    assert rerank_candidates(queries, keys, np.array([[2, 1, 0], [-1, 2, -1]]), 2).tolist() == [[0, 1], [2, -1]]


def test_within_margin_keeps_every_pair_of_the_exact_top_k():
    rng = np.random.default_rng(2)
    keys = rng.standard_normal((200, 6)).astype(np.float32)
    queries = rng.standard_normal((30, 6)).astype(np.float32)
    rows, cols = np.repeat(np.arange(30), 200), np.tile(np.arange(200), 30)
    s32 = np.einsum("pd,pd->p", queries[rows], keys[cols]).astype(np.float64)
    from amips.exact.order import candidate_margins, max_row_norm

    keep = within_margin(rows, s32, 30, 5, candidate_margins(queries, max_row_norm(keys)))
    assert keep.sum() < rows.size
    np.testing.assert_array_equal(select_topk(queries, keys, rows[keep], cols[keep], 30, 5)[1],
                                  exact_topk(queries, keys, 5)[1])


def test_a_rerank_an_index_cannot_do_is_refused():
    keys, queries, _ = _problem(m=300, d=8, n=10)
    with pytest.raises(InputError, match="pq: rerank is a number of candidates"):
        PqIndex(4).build(keys).search(queries, 5, rerank=EVERY, queries=queries)
    with pytest.raises(InputError, match="hnsw_mips_l2: no re-rank"):
        MipsToL2(HnswIndex("l2")).build(keys).search(queries, 5, 16, 10, queries)
    with pytest.raises(InputError, match="ivf_flat: rerank is 0 or every scanned key"):
        IvfFlatIndex().build(keys).search(queries, 5, 2, 10, queries)
