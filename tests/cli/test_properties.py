"""Property-based tests (Hypothesis) of input handling: the CLI's numeric arguments and the config schema.

The contract, for any value: the command exits 0 and writes a valid output, or exits 2 with exactly one line
``amips: error: …`` and writes nothing.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amips.data.augment import split_rows
from amips.cli import main
from amips.data.io import MARKER_DIR
from amips.training.train import TrainSpec
from amips.training.validation import carve_validation
from clitools import make_data

SETTINGS = settings(max_examples=50, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
ODD_TEXT = st.sampled_from(["nan", "inf", "-inf", "1e308", "-0", "", "abc", "1e-320", "0x10", "9" * 30])
HUGE_INTS = st.sampled_from([0, -1, -(2**63), 2**31, 2**63, 2**64, 10**12, 10**30])
ODD_FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)


def numbers(valid: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly ``valid`` values, with odd strings, huge integers and any float (NaN and ±Inf included)."""
    return st.one_of(valid, valid, valid, ODD_TEXT, HUGE_INTS, ODD_FLOATS).map(str)


_counter = itertools.count()


def _invoke(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _assert_clean_failure(code: int, out: str, err: str, written: Path) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("amips: error: ") and out == "", err
    assert not written.exists() or not any(written.iterdir()) if written.is_dir() else not written.exists()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_data(tmp_path_factory.mktemp("prop") / "data", num_keys=150, num_queries=60)


@SETTINGS
@given(num_keys=numbers(st.integers(-3, 3000)), num_queries=numbers(st.integers(-3, 500)),
       dim=numbers(st.integers(-3, 256)), seed=numbers(st.integers(-3, 2**32)))
def test_generate_writes_a_valid_dataset_or_fails_cleanly(tmp_path_factory, num_keys, num_queries, dim, seed):
    out = tmp_path_factory.getbasetemp() / f"gen{next(_counter)}"
    code, stdout, stderr = _invoke(["generate", "--num-keys", num_keys, "--num-queries", num_queries, "--dim", dim,
                                    "--seed", seed, "--out", str(out)])
    if code == 0:
        keys, queries = np.load(out / "keys.npy"), np.load(out / "queries.npy")
        assert keys.shape == (int(num_keys), int(dim)) and queries.shape == (int(num_queries), int(dim))
        assert np.isfinite(keys).all() and np.isfinite(queries).all()
    else:
        _assert_clean_failure(code, stdout, stderr, out)


@SETTINGS
@given(lr=numbers(st.floats(1e-5, 0.05)), noise_std=numbers(st.floats(0, 0.5)), steps=numbers(st.integers(-2, 25)),
       batch=numbers(st.integers(-2, 400)), copies=numbers(st.integers(-2, 3)), ema=numbers(st.floats(0, 1)),
       warmup=numbers(st.integers(-2, 30)), width=numbers(st.integers(-2, 24)))
def test_fit_writes_a_finite_model_or_fails_cleanly(dataset, tmp_path_factory, lr, noise_std, steps, batch, copies,
                                                     ema, warmup, width):
    out_dir = tmp_path_factory.getbasetemp() / f"fit{next(_counter)}"
    out = out_dir / "model.pt"
    code, stdout, stderr = _invoke([
        "fit", "--keys", str(dataset / "keys.npy"), "--queries", str(dataset / "queries.npy"), "--out", str(out),
        "--model", "keynet", "--depth", "2", "--wx-inject", "2", "--threads", "1", "--quiet",
        "--lr", lr, "--noise-std", noise_std, "--steps", steps, "--batch-size", batch, "--noise-copies", copies,
        "--ema-decay", ema, "--warmup-steps", warmup, "--width", width])
    if code == 0:
        state = torch.load(out, weights_only=True)["state_dict"]
        assert all(bool(torch.isfinite(t).all()) for t in state.values())
        left = sorted(p.name for p in out_dir.iterdir() if p.name != MARKER_DIR)
        assert left == ["model.pt"]  # no checkpoint, lock or temporary left
    else:
        _assert_clean_failure(code, stdout, stderr, out_dir)


BASE = {
    "datasets": {"syn": {"source": "structured", "num_keys": 300, "num_queries": 100, "dim": 8}},
    "labels": {"noise_copies": 1},
    "models": {"keynet": {"kind": "keynet", "depth": 2}},
    "training": {"steps": 10, "batch_size": 16, "lr_peak": 0.001},
    "sweep": {"datasets": ["syn"], "models": ["keynet"], "seeds": [0]},
    "experiments": {"router": {"enabled": True, "num_clusters": 4, "models": ["keynet"]}},
}
VALUES = st.one_of(st.integers(-5, 500), st.floats(allow_nan=False, allow_infinity=False, min_value=-5, max_value=500),
                   st.sampled_from([0, 1, 1.0, 0.5, 1.5, 10**9, 2**63, True, "x", None, [], {}]))


@SETTINGS
@given(steps=VALUES, batch=VALUES, lr=VALUES, test_size=VALUES, noise_std=VALUES, clusters=VALUES, seed=VALUES)
def test_check_config_accepts_only_configs_the_pipeline_can_run(tmp_path_factory, steps, batch, lr, test_size,
                                                                noise_std, clusters, seed):
    config = json.loads(json.dumps(BASE))
    config["training"].update(steps=steps, batch_size=batch, lr_peak=lr)
    config["labels"].update(test_size=test_size, noise_std=noise_std)
    config["experiments"]["router"]["num_clusters"] = clusters
    config["datasets"]["syn"]["seed"] = seed
    path = tmp_path_factory.getbasetemp() / f"cfg{next(_counter)}.yaml"
    path.write_text(yaml.safe_dump(config))
    code, stdout, stderr = _invoke(["check-config", str(path)])
    if code == 0:  # then the library accepts every one of these values
        spec = TrainSpec.from_dict(config["training"])
        source = np.repeat(np.arange(100), 2)
        train = carve_validation(split_rows(source, test_size)[0], source, 0.1)[0]
        assert spec.batch_size <= train.size and 2 <= clusters <= 300 and 0 <= noise_std <= 10 and seed >= 0
    else:
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and lines[0].startswith("amips: error: "), stderr
