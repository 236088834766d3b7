"""`amips search` as a user runs it: the query itself as a baseline, --index saved and reused (IVF and HNSW, the IVF
index of `fit --retrieval`), a foreign index refused, re-ranking with the query, recall against targets."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from amips.data.sets import load_key_query_files
from amips.exact.labels import exact_topk
from clitools import TINY_FIT, make_data, run

K = 5


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """200 keys, 100 queries (d = 8), a KeyNet fitted with a retrieval term (so its IVF index sits at model.pt.ivf),
    and the exact top-K of every query."""
    from amips.cli import main

    root = tmp_path_factory.mktemp("search")
    data = make_data(root / "data")
    model = root / "model.pt"
    argv = ["fit", "--keys", data / "keys.npy", "--queries", data / "queries.npy", "--out", model, *TINY_FIT,
            "--retrieval", "list_ce"]
    assert main([str(a) for a in argv]) == 0
    ds = load_key_query_files(data / "keys.npy", data / "queries.npy")
    scores, top = exact_topk(ds.queries, ds.keys, K)
    return {"keys": data / "keys.npy", "queries": data / "queries.npy", "model": model, "ivf": root / "model.pt.ivf",
            "ds": ds, "top": top, "top_scores": scores, "root": root}


def _search(capsys, made, out, *extra):
    return run(capsys, "search", "--keys", made["keys"], "--queries", made["queries"], "--k", K, "--out", out, *extra)


def _one_error(result) -> str:
    assert result.code == 2, (result.out, result.err)
    lines = [line for line in result.err.splitlines() if line.startswith("amips: error:")]
    assert len(lines) == 1 and "Traceback" not in result.err, result.err
    return lines[0]


def _recalls(out: str) -> dict[str, float]:
    return {name: float(value) for name, value in re.findall(r"(recall@\d+) ([0-9.]+)", out)}


# ------------------------------------------------------------------------------------------ the query itself


def test_without_a_model_search_is_the_exact_top_k(made, tmp_path, capsys):
    result = _search(capsys, made, tmp_path / "r.npz")
    assert result.code == 0, result.err
    assert "exhaustive, with the query itself" in result.out
    found = np.load(tmp_path / "r.npz")
    np.testing.assert_array_equal(found["indices"], made["top"])
    np.testing.assert_allclose(found["scores"], made["top_scores"], rtol=1e-6, atol=1e-6)
    assert _search(capsys, made, tmp_path / "r.json").code == 0  # the other formats hold the same keys
    assert _search(capsys, made, tmp_path / "r.npy").code == 0
    np.testing.assert_array_equal(np.load(tmp_path / "r.npy"), made["top"])
    np.testing.assert_array_equal(json.loads((tmp_path / "r.json").read_text())["indices"], made["top"])


def test_ivf_without_a_model_probing_every_list_is_exact(made, tmp_path, capsys):
    result = _search(capsys, made, tmp_path / "r.npy", "--ivf", "--nlist", 8, "--nprobe", 8)
    assert result.code == 0, result.err
    assert "IVF, nprobe 8 of 8 lists, with the query itself" in result.out
    np.testing.assert_array_equal(np.load(tmp_path / "r.npy"), made["top"])  # ranked exactly, ties included


# ------------------------------------------------------------------------------------------ --index


@pytest.mark.parametrize("kind", ["--ivf", "--hnsw"])
def test_index_is_built_once_then_read_back(made, tmp_path, capsys, monkeypatch, kind):
    index = tmp_path / "keys.index"
    first = _search(capsys, made, tmp_path / "a.npz", kind, "--index", index)
    assert first.code == 0, first.err
    assert "built an" in first.err and f"saved to --index {index}" in first.err
    before = index.stat()

    def no_build(*args, **kwargs):
        raise AssertionError("the index was rebuilt")

    monkeypatch.setattr("amips.index.base.Index.build", no_build)
    second = _search(capsys, made, tmp_path / "b.npz", kind, "--index", index)
    assert second.code == 0, second.err
    assert f"read --index {index}" in second.err and "checked against --keys" in second.err
    after = index.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    np.testing.assert_array_equal(a["indices"], b["indices"])
    np.testing.assert_array_equal(a["scores"], b["scores"])


def test_a_foreign_index_is_refused_in_one_line(made, tmp_path, capsys):
    index = tmp_path / "keys.ivf"
    assert _search(capsys, made, tmp_path / "a.npz", "--ivf", "--index", index).code == 0
    stamp = index.stat().st_mtime_ns
    keys = np.load(made["keys"])
    other = keys.copy()
    other[17, 3] += 0.5  # same shape, one value changed
    np.save(tmp_path / "other.npy", other)
    np.save(tmp_path / "fewer.npy", keys[:150])
    np.save(tmp_path / "wider.npy", np.concatenate([keys, keys[:, :1]], axis=1))
    queries = np.load(made["queries"])
    np.save(tmp_path / "wider_q.npy", np.concatenate([queries, queries[:, :1]], axis=1))
    (tmp_path / "junk.ivf").write_bytes(b"not an index" * 100)
    cases = [
        (("--keys", tmp_path / "other.npy", "--ivf", "--index", index),
         f"--index {index}: built over other keys than --keys (same 200 × 8, key row 17 differs)"),
        (("--keys", tmp_path / "fewer.npy", "--ivf", "--index", index), f"--index {index}: built over 200 keys, "
                                                                         "--keys has 150"),
        (("--keys", tmp_path / "wider.npy", "--queries", tmp_path / "wider_q.npy", "--ivf", "--index", index),
         f"--index {index}: built over keys of dimension 8, --keys has dimension 9"),
        (("--hnsw", "--index", index), f"--index {index}: an IVF index (IndexIVFFlat), not the HNSW index"),
        (("--ivf", "--index", index, "--nprobe", 20), f"--nprobe 20 exceeds the 14 lists of --index {index}"),
        (("--ivf", "--index", index, "--nlist", 10), f"--nlist 10: --index {index} was built with 14 lists"),
        (("--ivf", "--index", tmp_path / "junk.ivf"), "not a faiss index file"),
        (("--index", index), f"--index {index} needs --ivf or --hnsw"),
    ]
    for extra, expected in cases:
        argv = ["search", "--queries", made["queries"], "--k", K, "--out", tmp_path / "x.npz", *extra]
        if "--keys" not in extra:
            argv[1:1] = ["--keys", made["keys"]]
        line = _one_error(run(capsys, *argv))
        assert expected in line, line
    assert index.stat().st_mtime_ns == stamp and not (tmp_path / "x.npz").exists()


def test_hnsw_finds_the_exact_top_k(made, tmp_path, capsys):
    result = _search(capsys, made, tmp_path / "h.npy", "--hnsw", "--hnsw-m", 8, "--ef-search", 16)
    assert result.code == 0, result.err
    assert "HNSW, M 8, efSearch 16, with the query itself" in result.out
    found = np.load(tmp_path / "h.npy")
    overlap = np.mean([len(set(f) & set(t)) / K for f, t in zip(found, made["top"])])
    assert overlap >= 0.9
    assert _search(capsys, made, tmp_path / "all.npy", "--hnsw", "--hnsw-m", 8, "--ef-search", 200).code == 0
    np.testing.assert_array_equal(np.load(tmp_path / "all.npy"), made["top"])  # every key a candidate: exact


# ------------------------------------------------------------------------------------------ a model's predicted key


def test_the_ivf_index_of_fit_is_reused_with_the_model(made, tmp_path, capsys, monkeypatch):
    index = made["ivf"]
    stamp = index.stat().st_mtime_ns
    monkeypatch.setattr("amips.index.base.Index.build", lambda *a, **k: pytest.fail("index rebuilt"))
    model = ("--model", made["model"], "--ivf", "--index", index)
    result = _search(capsys, made, tmp_path / "q.npz", *model, "--nprobe", 14)
    assert result.code == 0, result.err
    assert f"probed with the predicted key of {made['model']}, ranked by the query itself" in result.out
    np.testing.assert_array_equal(np.load(tmp_path / "q.npz")["indices"], made["top"])  # all lists, x ranks: exact
    result = _search(capsys, made, tmp_path / "p.npz", *model, "--nprobe", 2)
    assert result.code == 0, result.err
    scores = np.load(tmp_path / "p.npz")["scores"]
    assert (np.diff(scores, axis=1) <= 0).all()  # ranked by the query's own scores
    result = _search(capsys, made, tmp_path / "n.npz", *model, "--nprobe", 2, "--rerank", "none")
    assert result.code == 0 and "(the index's order)" in result.out
    assert index.stat().st_mtime_ns == stamp


def test_rerank_query_over_all_keys_with_a_model_is_refused(made, tmp_path, capsys):
    line = _one_error(_search(capsys, made, tmp_path / "r.npz", "--model", made["model"], "--rerank", "query"))
    assert "--rerank query needs --ivf or --hnsw" in line
    assert "--nprobe needs --ivf" in _one_error(_search(capsys, made, tmp_path / "r.npz", "--nprobe", 2))
    assert "--ef-search needs --hnsw" in _one_error(_search(capsys, made, tmp_path / "r.npz", "--ivf",
                                                            "--ef-search", 9))
    assert "--batch-size needs --model" in _one_error(_search(capsys, made, tmp_path / "r.npz", "--batch-size", 9))


# ------------------------------------------------------------------------------------------ recall


def test_targets_recall_is_the_hand_computed_recall(made, tmp_path, capsys):
    top = made["top"]
    targets = top[:, 0].copy()
    targets[::4] = top[::4, 2]  # a quarter of the "true" keys are each query's third key
    for row in range(0, len(top), 10):  # a tenth are keys outside the top-K
        targets[row] = min(set(range(200)) - set(top[row].tolist()))
    np.save(tmp_path / "t.npy", targets)
    result = _search(capsys, made, tmp_path / "r.npz", "--targets", tmp_path / "t.npy")
    assert result.code == 0, result.err
    expected_1 = np.mean(top[:, 0] == targets)
    expected_k = np.mean((top == targets[:, None]).any(axis=1))
    assert 0 < expected_1 < expected_k < 1
    assert _recalls(result.out) == {"recall@1": round(expected_1, 4), f"recall@{K}": round(expected_k, 4)}
    assert f"--targets {tmp_path / 't.npy'}" in result.out
    np.save(tmp_path / "short.npy", targets[:50])
    assert "50 targets, --queries has 100 rows" in _one_error(
        _search(capsys, made, tmp_path / "r.npz", "--targets", tmp_path / "short.npy"))


def test_exact_recall_and_labels(made, tmp_path, capsys):
    result = _search(capsys, made, tmp_path / "r.npz", "--ivf", "--nprobe", 1, "--exact-recall")
    assert result.code == 0, result.err
    ivf = np.load(tmp_path / "r.npz")["indices"]
    expected = {"recall@1": round(np.mean(ivf[:, 0] == made["top"][:, 0]), 4),
                f"recall@{K}": round(np.mean((ivf == made["top"][:, :1]).any(axis=1)), 4)}
    assert _recalls(result.out) == expected and "--exact-recall" in result.out
    labels = tmp_path / "labels"
    assert run(capsys, "labels", "--data", made["keys"].parent, "--out", labels, "--noise-copies", 1).code == 0
    result = run(capsys, "search", "--keys", made["keys"], "--queries", labels / "test_queries.npy", "--k", K,
                 "--out", tmp_path / "l.npz", "--labels", labels)
    assert result.code == 0, result.err
    assert "test split" in result.out
    assert _recalls(result.out) == {"recall@1": 1.0, f"recall@{K}": 1.0}  # the exact search finds its labels
    line = _one_error(_search(capsys, made, tmp_path / "l.npz", "--labels", labels))
    assert "none of its splits holds the --queries queries" in line


def test_reranking_is_exact_among_many_ties():
    """Keys with 40 exact copies each: the IVF candidates within the float32 margin overflow faiss' k + 16, and the
    query's exact order (ties: lower key row first) still comes out, as in the exhaustive search."""
    from amips.index.hnsw import HnswIndex
    from amips.index.ivf import IvfFlatIndex
    from amips.search import search

    rng = np.random.default_rng(3)
    base = rng.normal(size=(10, 6)).astype(np.float32)
    keys = np.repeat(base, 40, axis=0)[rng.permutation(400)]
    queries = rng.normal(size=(30, 6)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = exact_topk(queries, keys, 50)[1]
    for index, probe in ((IvfFlatIndex(4), 4), (HnswIndex(), 400)):
        np.testing.assert_array_equal(search(None, keys, queries, 50, index.build(keys), probe).indices, exact)


def test_help_speaks_of_search(capsys):
    text = run(capsys, "search", "--help").out
    assert "noise" not in text and "batch order" not in text
    assert "seed of the IVF k-means or the HNSW level draw when an index is built" in " ".join(text.split())
