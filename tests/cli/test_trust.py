"""Results you can trust: a broken model never scores, stale state is never reused, every input is checked.

Each test here failed before the corresponding fix (the issue "Results you can trust"): broken models scored 1.0,
stale checkpoints were resumed silently, outputs could overwrite inputs, ``test_size: 1.5`` gave 2 test rows,
models were used with foreign keys, and the validation let through what a job tripped over later.

Here: what a user meets through the command line. The same issue's checks of one wing are with that wing:
tests/evaluation/test_trust_metrics.py, tests/routing/test_trust_routing.py, tests/index/test_trust_ivf.py,
tests/data/test_killed_writers.py and test_augment.py (test sizes), tests/pipeline/test_trust_stages.py (the training
stage) and test_trust_config.py (check-config and the workflow).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from amips.data.io import atomic_save_npy
from amips.data.locks import exclusive_lock
from amips.models import ModelSpec, build_model
from amips.search import search
from amips.training.train import TrainSpec
from clitools import TINY_FIT, files_under, interrupt_after, make_data, one_error_line, run


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A dataset (200 keys, 100 queries, d = 8) and a KeyNet fitted on it with the CLI."""
    root = tmp_path_factory.mktemp("trust")
    data = make_data(root / "data")
    model = root / "model.pt"
    from amips.cli import main

    assert main([str(a) for a in ["fit", "--keys", data / "keys.npy", "--queries", data / "queries.npy",
                                  "--out", model, *TINY_FIT]]) == 0
    return data, model




# ------------------------------------------------------------------------- 1. broken models never score


def _flip_tensor_bytes(model: Path, out: Path) -> Path:
    """Copy ``model`` with bytes inside its first tensor's data record changed (the zip stays readable)."""
    raw = bytearray(model.read_bytes())
    with zipfile.ZipFile(model) as archive:
        info = next(i for i in archive.infolist() if "/data/" in i.filename and i.file_size >= 16)
    header = raw[info.header_offset : info.header_offset + 30]
    start = info.header_offset + 30 + int.from_bytes(header[26:28], "little") + int.from_bytes(header[28:30], "little")
    for offset in range(start + 4, start + 12):
        raw[offset] ^= 0x5A
    out.write_bytes(bytes(raw))
    return out


def _with_weight(model: Path, out: Path, value: float) -> Path:
    payload = torch.load(model, weights_only=True)
    next(iter(payload["state_dict"].values())).view(-1)[0] = value
    torch.save(payload, out)
    return out


@pytest.mark.parametrize("damage", ["bit-flip", "nan-weight", "nan-weight-no-digest"])
def test_damaged_model_files_are_refused_by_evaluate_and_search(fitted, tmp_path, capsys, damage):
    data, model = fitted
    if damage == "bit-flip":
        bad = _flip_tensor_bytes(model, tmp_path / "bad.pt")
    else:
        bad = _with_weight(model, tmp_path / "bad.pt", float("nan"))
        if damage == "nan-weight-no-digest":  # a file written before digests existed
            payload = torch.load(bad, weights_only=True)
            del payload["weights_sha256"]
            torch.save(payload, bad)
    evaluated = run(capsys, "evaluate", "--model", bad, "--keys", data / "keys.npy", "--queries", data / "queries.npy")
    line = one_error_line(evaluated)
    assert "bad.pt" in line and ("corrupt" in line or "non-finite" in line), line
    searched = run(capsys, "search", "--model", bad, "--keys", data / "keys.npy", "--queries", data / "queries.npy",
                   "--out", tmp_path / "r.npz")
    one_error_line(searched)
    assert not (tmp_path / "r.npz").exists()


def test_search_refuses_non_finite_predicted_keys(fitted, monkeypatch):
    data, _ = fitted
    keys, queries = np.load(data / "keys.npy"), np.load(data / "queries.npy")
    model = build_model(ModelSpec(kind="keynet", depth=1, width=8), 8, 200)

    def nan_predict(*args, **kwargs):
        return np.zeros((len(queries), 1)), np.full((len(queries), 1, 8), np.nan, np.float32)

    monkeypatch.setattr("amips.search.predict", nan_predict)
    with pytest.raises(ValueError, match="non-finite keys or scores for 100 of 100 queries"):
        search(model, keys, queries, 5)


def _diverging_schedule(monkeypatch):
    monkeypatch.setattr(TrainSpec, "lr_at", lambda self, step: 1e30)


def test_diverged_fit_fails_in_one_line_and_writes_no_model(fitted, tmp_path, capsys, monkeypatch):
    data, _ = fitted
    _diverging_schedule(monkeypatch)
    out = tmp_path / "out" / "model.pt"
    result = run(capsys, "fit", "--keys", data / "keys.npy", "--queries", data / "queries.npy", "--out", out,
                 *TINY_FIT)
    line = one_error_line(result)
    assert f"training {out} diverged" in line and "no model written" in line
    assert not out.exists()


# ------------------------------------------------------------------------- 2./7. stale checkpoints


def _fit(data: Path, out: Path, *extra) -> list:
    return ["fit", "--keys", data / "keys.npy", "--queries", data / "queries.npy", "--out", out, *TINY_FIT,
            "--steps", 40, "--checkpoint-every", 5, *extra]


@pytest.mark.parametrize("change,field", [
    (("--noise-std", "0.05"), "labels.noise_std differs (checkpoint: 0.02, now: 0.05)"),
    (("--noise-copies", "2"), "labels.noise_copies differs (checkpoint: 1, now: 2)"),
    (("--lr", "0.001"), "training.lr_peak differs"),
    ("queries", "data.train_queries differs"),
])
def test_fit_refuses_a_stale_checkpoint_naming_field_and_flag(tmp_path, capsys, monkeypatch, change, field):
    data = make_data(tmp_path / "data")
    out = tmp_path / "model.pt"
    with monkeypatch.context() as patch:
        interrupt_after(patch, 10)
        assert run(capsys, *_fit(data, out)).code == 130
    assert (tmp_path / "model.pt.ckpt").exists()
    extra: tuple = change if isinstance(change, tuple) else ()
    if change == "queries":
        atomic_save_npy(data / "queries.npy", np.load(data / "queries.npy")[::-1].copy())
    line = one_error_line(run(capsys, *_fit(data, out, *extra)))
    assert field in line and "rerun with --restart" in line, line
    restarted = run(capsys, *_fit(data, out, *extra, "--restart"))
    assert restarted.code == 0 and "resumed" not in restarted.out, restarted.err
    assert not (tmp_path / "model.pt.ckpt").exists()


def test_fit_resumes_after_a_logging_change_and_says_it_replaces_the_model(tmp_path, capsys, monkeypatch):
    data = make_data(tmp_path / "data")
    out = tmp_path / "model.pt"
    with monkeypatch.context() as patch:
        interrupt_after(patch, 10)
        assert run(capsys, *_fit(data, out)).code == 130
    resumed = run(capsys, *_fit(data, out, "--log-every", "7", "--checkpoint-every", "3"))
    assert resumed.code == 0 and "resumed from step 10" in resumed.out, resumed.err
    again = run(capsys, *[a for a in _fit(data, out) if a != "--quiet"])
    assert again.code == 0 and f"{out} exists and will be replaced" in again.err


# ------------------------------------------------------------------------- 4. outputs never overwrite inputs


@pytest.mark.parametrize("command", ["search-queries", "evaluate-model", "fit-keys", "labels-data"])
def test_an_output_equal_to_an_input_is_refused(fitted, tmp_path, capsys, command):
    data, model = fitted
    keys, queries = data / "keys.npy", data / "queries.npy"
    argv, victim = {
        "search-queries": (["search", "--model", model, "--keys", keys, "--queries", queries, "--out", queries], queries),
        "evaluate-model": (["evaluate", "--model", model, "--keys", keys, "--queries", queries, "--out", model], model),
        "fit-keys": (["fit", "--keys", keys, "--queries", queries, "--out", keys, *TINY_FIT], keys),
        "labels-data": (["labels", "--data", data, "--out", data], data / "meta.json"),
    }[command]
    before = victim.read_bytes()
    line = one_error_line(run(capsys, *argv))
    assert "writing it would destroy the input" in line
    assert victim.read_bytes() == before


# ------------------------------------------------------------------------- 5. test_size


@pytest.mark.parametrize("value", ["1.5", "2", "0", "nan"])
def test_labels_cli_rejects_bad_test_sizes(fitted, tmp_path, capsys, value):
    data, _ = fitted
    one_error_line(run(capsys, "labels", "--data", data, "--out", tmp_path / "labels", "--test-size", value))
    assert not (tmp_path / "labels").exists()


# ------------------------------------------------------------------------- 6. models and their keys


def test_a_model_is_refused_on_other_keys_unless_allowed(fitted, tmp_path, capsys):
    data, model = fitted
    other = tmp_path / "other_keys.npy"
    np.save(other, np.load(data / "keys.npy")[::-1].copy())
    queries = data / "queries.npy"
    line = one_error_line(run(capsys, "evaluate", "--model", model, "--keys", other, "--queries", queries))
    assert "was trained on other keys" in line and "--allow-other-keys" in line
    one_error_line(run(capsys, "search", "--model", model, "--keys", other, "--queries", queries,
                        "--out", tmp_path / "r.npz"))
    allowed = run(capsys, "search", "--model", model, "--keys", other, "--queries", queries, "--out",
                  tmp_path / "r.npz", "--allow-other-keys")
    assert allowed.code == 0 and "trained on other keys" in allowed.err


# ------------------------------------------------------------------------- validation everywhere


@pytest.mark.parametrize("argv,expected", [
    (["--ivf", "--nprobe", "500"], "--nprobe 500 exceeds the index's 14 lists (--nlist default: floor(sqrt(m)))"),
    (["--ivf", "--nlist", "4", "--nprobe", "5"], "--nprobe 5 exceeds the index's 4 lists"),
])
def test_search_refuses_values_a_library_would_clamp(fitted, tmp_path, capsys, argv, expected):
    data, model = fitted
    line = one_error_line(run(capsys, "search", "--model", model, "--keys", data / "keys.npy", "--queries",
                               data / "queries.npy", "--out", tmp_path / "r.npz", *argv))
    assert expected in line


@pytest.mark.parametrize("argv,expected", [
    (["--noise-std", "nan"], "--noise-std: must be a finite number"),
    (["--lr", "inf"], "--lr: must be a finite number"),
    (["--lr", "1e6"], "--lr: must be a finite number in (0, 10]"),
    (["--ema-decay", "1"], "--ema-decay"),
    (["--width", "1000000", "--depth", "1000"], "needs about"),
    (["--parameters-fraction", "nan"], "--parameters-fraction: must be a finite number"),
    (["--parameters-fraction", "1e9"], "--parameters-fraction: must be a finite number in (0, 1000]"),
])
def test_fit_numeric_arguments_are_range_checked(fitted, tmp_path, capsys, argv, expected):
    data, _ = fitted
    out = tmp_path / "out"
    tiny = list(TINY_FIT)
    if "--parameters-fraction" in argv:  # size from the budget, not the tiny fixed width
        del tiny[tiny.index("--width") : tiny.index("--width") + 2]
    line = one_error_line(run(capsys, "fit", "--keys", data / "keys.npy", "--queries", data / "queries.npy",
                               "--out", out / "m.pt", *tiny, *argv))
    assert expected in line and files_under(out) == set()


def test_sizes_that_cannot_fit_fail_fast_with_the_estimate(tmp_path, capsys):
    line = one_error_line(run(capsys, "generate", "--num-keys", 10**12, "--dim", 384, "--out", tmp_path / "d"))
    assert "needs about" in line and "is available" in line and not (tmp_path / "d").exists()


# ------------------------------------------------------------------------- interruption leftovers


def test_a_second_fit_on_the_same_output_is_refused(fitted, tmp_path, capsys):
    data, _ = fitted
    out = tmp_path / "model.pt"
    with exclusive_lock(out, "amips fit"):
        line = one_error_line(run(capsys, "fit", "--keys", data / "keys.npy", "--queries", data / "queries.npy",
                                   "--out", out, *TINY_FIT))
        assert f"is being written by another amips fit (pid {os.getpid()})" in line
    assert run(capsys, "fit", "--keys", data / "keys.npy", "--queries", data / "queries.npy", "--out", out,
               *TINY_FIT).code == 0
    assert files_under(tmp_path) == {"model.pt"}  # no lock file, no checkpoint left behind
