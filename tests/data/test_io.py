"""Safe I/O: atomic writes and clear errors for bad array files."""

from __future__ import annotations

import numpy as np
import pytest

from amips.data.sets import load_key_query_files
from amips.data.io import MARKER_DIR, InputError, atomic_path, atomic_save_npy, atomic_write_json, load_embeddings


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("crash")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    atomic_write_json(target, {"a": np.float32(1.5)})
    assert target.read_text().strip().startswith("{")
    assert sorted(p.name for p in tmp_path.iterdir()) == [MARKER_DIR, "out.json"]  # and the marker: amips wrote it


def test_atomic_npy_round_trip(tmp_path):
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    atomic_save_npy(tmp_path / "a.npy", array)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), array)


def _save(tmp_path, name, array, **kw):
    path = tmp_path / name
    np.save(path, array, **kw)
    return path


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda p: p / "missing.npy", "not found"),
        (lambda p: (p / "x.txt").write_text("hello") and p / "x.txt", "not a .npy"),
        (lambda p: _save(p, "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True), "pickled"),
        (lambda p: _save(p, "v.npy", np.zeros(4, np.float32)), "2-D"),
        (lambda p: _save(p, "t.npy", np.zeros((2, 3, 4), np.float32)), "2-D"),
        (lambda p: _save(p, "e.npy", np.zeros((0, 4), np.float32)), "empty"),
        (lambda p: _save(p, "n.npy", np.array([[1.0, np.nan]], np.float32)), "NaN"),
        (lambda p: _save(p, "i.npy", np.array([[1.0, np.inf]], np.float32)), "NaN or Inf"),
        (lambda p: _save(p, "c.npy", np.ones((2, 2), np.complex64)), "dtype"),
    ],
)
def test_bad_embedding_files_raise_one_line_errors(tmp_path, make, match):
    path = make(tmp_path)
    with pytest.raises(InputError, match=match) as info:
        load_embeddings(path, "keys")
    assert "\n" not in str(info.value) and "keys" in str(info.value)


def test_truncated_npy(tmp_path):
    path = _save(tmp_path, "k.npy", np.ones((100, 8), np.float32))
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(InputError, match="corrupt or truncated"):
        load_embeddings(path, "keys")


def test_integer_and_float64_are_converted_to_float32(tmp_path):
    for dtype in (np.int32, np.float64):
        out = load_embeddings(_save(tmp_path, f"{dtype.__name__}.npy", np.ones((3, 2), dtype)), "keys")
        assert out.dtype == np.float32


def test_key_query_dimension_mismatch_and_zero_query(tmp_path):
    keys = _save(tmp_path, "k.npy", np.ones((5, 4), np.float32))
    with pytest.raises(InputError, match="dimension 3 but the keys have dimension 4"):
        load_key_query_files(keys, _save(tmp_path, "q.npy", np.ones((2, 3), np.float32)))
    with pytest.raises(InputError, match="zero-norm"):
        load_key_query_files(keys, _save(tmp_path, "z.npy", np.zeros((2, 4), np.float32)))


def test_memmap_loading_checks_finiteness(tmp_path):
    path = _save(tmp_path, "k.npy", np.ones((10, 4), np.float32))
    assert isinstance(load_embeddings(path, "keys", mmap=True), np.memmap)
    bad = np.ones((10, 4), np.float32)
    bad[7, 1] = np.nan
    with pytest.raises(InputError, match="rows 0..9"):
        load_embeddings(_save(tmp_path, "b.npy", bad), "keys", mmap=True)


def test_read_json_restores_the_non_finite_numbers_json_cannot_hold(tmp_path):
    """Written as null plus a flag (amips.data.io.json_text), read back as the floats they were, nested or not."""
    import math

    from amips.data.io import atomic_write_json, read_json

    record = {"loss": float("nan"), "records": [{"recall@1_at_0.1": float("inf"), "n": 3}], "ok": 1.5}
    atomic_write_json(tmp_path / "r.json", record)
    assert "NaN" not in (tmp_path / "r.json").read_text() and "Infinity" not in (tmp_path / "r.json").read_text()
    back = read_json(tmp_path / "r.json")
    assert math.isnan(back["loss"]) and back["records"] == [{"recall@1_at_0.1": float("inf"), "n": 3}]
    assert back["ok"] == 1.5 and "non_finite_fields" not in back
