"""Choice of the CPU label engine: measured once per machine and d, cached, overridable."""

from __future__ import annotations

import json

import numpy as np
import pytest

import amips.exact.label_backend as lb
from amips.data.io import InputError
from amips.exact.labels import CPU_ENGINES, exact_topk

BIG = 10 * lb.MIN_FLOP_TO_MEASURE


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AMIPS_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("AMIPS_LABEL_BACKEND", raising=False)
    return tmp_path


def _fake_timings(monkeypatch, seconds):
    calls = []

    def fake(engines, dim, k, **kwargs):
        calls.append((dim, k))
        return dict(seconds)

    monkeypatch.setattr(lb, "measure_engines", fake)
    return calls


def test_small_calls_take_the_default_without_measuring(cache_dir, monkeypatch):
    calls = _fake_timings(monkeypatch, {"numpy": 2.0, "faiss": 1.0})
    assert lb.cpu_engine(CPU_ENGINES, 384, 1, flop=1e6) == lb.DEFAULT_ENGINE
    assert lb.cpu_engine(CPU_ENGINES, 384, 5, flop=1e6) == lb.DEFAULT_TOPK_ENGINE
    assert calls == [] and not (cache_dir / lb.CACHE_FILE).exists()


def test_the_fastest_engine_is_measured_once_and_cached(cache_dir, monkeypatch):
    calls = _fake_timings(monkeypatch, {"numpy": 2.0, "faiss": 1.0})
    assert lb.cpu_engine(CPU_ENGINES, 384, 1, flop=BIG) == "faiss"
    assert lb.cpu_engine(CPU_ENGINES, 384, 1, flop=BIG) == "faiss"
    assert calls == [(384, 1)]
    cache = json.loads((cache_dir / lb.CACHE_FILE).read_text())
    entry = cache[lb.machine_key(384, 1)]
    assert entry["engine"] == "faiss" and entry["seconds"] == {"numpy": 2.0, "faiss": 1.0}
    # another d or top-k is another entry, measured on its own
    _fake_timings(monkeypatch, {"numpy": 1.0, "faiss": 2.0})
    assert lb.cpu_engine(CPU_ENGINES, 64, 5, flop=BIG) == "numpy"
    assert lb.cpu_engine(CPU_ENGINES, 384, 1, flop=BIG) == "faiss"
    assert len(json.loads((cache_dir / lb.CACHE_FILE).read_text())) == 2


def test_a_corrupt_cache_is_measured_again(cache_dir, monkeypatch):
    (cache_dir / lb.CACHE_FILE).write_text("{not json")
    calls = _fake_timings(monkeypatch, {"numpy": 1.0, "faiss": 2.0})
    assert lb.cpu_engine(CPU_ENGINES, 8, 1, flop=BIG) == "numpy"
    assert calls and lb.machine_key(8, 1) in json.loads((cache_dir / lb.CACHE_FILE).read_text())


def test_environment_variable_forces_an_engine(cache_dir, monkeypatch):
    calls = _fake_timings(monkeypatch, {"numpy": 1.0, "faiss": 2.0})
    monkeypatch.setenv("AMIPS_LABEL_BACKEND", "faiss")
    assert lb.cpu_engine(CPU_ENGINES, 8, 1, flop=BIG) == "faiss" and calls == []
    monkeypatch.setenv("AMIPS_LABEL_BACKEND", "gpu")
    with pytest.raises(InputError, match="AMIPS_LABEL_BACKEND"):
        exact_topk(np.ones((2, 3), np.float32), np.ones((4, 3), np.float32), 1)


def test_measure_engines_times_every_engine_on_a_small_problem():
    seconds = lb.measure_engines(CPU_ENGINES, 8, 3, repeats=1, shape=(16, 256))
    assert set(seconds) == set(CPU_ENGINES) and all(0 < s < 10 for s in seconds.values())


def test_auto_gives_the_same_labels_as_each_engine(cache_dir, monkeypatch, rng):
    keys = rng.standard_normal((500, 6)).astype(np.float32)
    queries = rng.standard_normal((40, 6)).astype(np.float32)
    for name in CPU_ENGINES:
        monkeypatch.setenv("AMIPS_LABEL_BACKEND", name)
        for k in (1, 4):
            np.testing.assert_array_equal(exact_topk(queries, keys, k)[1], exact_topk(queries, keys, k, backend=name)[1])
