"""One line, never a traceback, for inputs and conditions that used to escape as tracebacks or mislead.

``.npy`` headers that promise more than the file or the memory holds, a real full disk under ``np.save`` and
``torch.save`` (a small tmpfs, when the tests run as root), hand-made model files, ``search --k`` beyond memory,
models evaluated on labels of the other kind, long output names, non-finite metrics in JSON, and messages that
name the option the user typed. Each case runs the real command line.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest
import torch

from amips.cli import main
from amips.core.fingerprint import tensors_digest
from amips.data.io import sibling_path
from amips.reporting.tables import load_runs
from clitools import TINY_FIT, TINY_MODEL, make_data, run, run_process, set_at


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    """A dataset, MIPS labels and 3-cluster router labels, a fitted MIPS model and a router trained on them."""
    root = tmp_path_factory.mktemp("made")
    data = make_data(root / "data")
    paths = {"root": root, "data": data, "keys": data / "keys.npy", "queries": data / "queries.npy",
             "labels": root / "labels", "labels3": root / "labels3", "model": root / "model.pt",
             "router": root / "router" / "model.pt"}
    for argv in (("labels", "--data", data, "--out", paths["labels"], "--noise-copies", 1, "--quiet"),
                 ("labels", "--data", data, "--out", paths["labels3"], "--noise-copies", 1, "--num-clusters", 3,
                  "--quiet"),
                 ("fit", "--keys", paths["keys"], "--queries", paths["queries"], "--out", paths["model"], *TINY_FIT),
                 ("train", "--data", data, "--labels", paths["labels3"], "--out", paths["router"].parent, *TINY_MODEL,
                  "--steps", 10, "--batch-size", 32, "--quiet")):
        assert main([str(a) for a in argv]) == 0, argv
    return paths


def _one_line(code: int, err: str, *fragments: str) -> str:
    """The single ``amips: error:`` line of a failed command (exit 2, no traceback), checked for ``fragments``."""
    assert code == 2 and "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("amips: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _npy_header(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    """The bytes of a version-1.0 ``.npy`` header for an array of ``shape``."""
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


# ------------------------------------------------------------------------- .npy headers that promise too much


def test_npy_header_promising_more_than_the_file_holds(made, tmp_path, capsys):
    keys = tmp_path / "keys.npy"
    keys.write_bytes(_npy_header((100000, 8)) + b"\x00" * 100)
    result = run(capsys, "fit", "--keys", keys, "--queries", made["queries"], "--out", tmp_path / "m.pt", *TINY_FIT)
    _one_line(result.code, result.err, "keys file is corrupt or truncated: its header promises 3200000 bytes",
              "the file has 100", str(keys))


def test_npy_header_promising_more_than_memory(made, tmp_path):
    queries = tmp_path / "huge.npy"
    header = _npy_header((2**38, 8))  # 8 TiB of float32, in a sparse file that holds them all
    with queries.open("wb") as fh:
        fh.write(header)
        try:
            fh.truncate(len(header) + 2**43)
        except OSError as exc:
            pytest.skip(f"this file system has no room for a sparse 8 TiB file: {exc}")
    done = run_process("search", "--model", made["model"], "--keys", made["keys"], "--queries", queries,
                       "--out", tmp_path / "r.npz")
    _one_line(done.returncode, done.stderr, "reading queries file", str(queries), "needs about 8 TiB of memory",
              "is available")


# ------------------------------------------------------------------------- a real full disk


@contextlib.contextmanager
def _small_tmpfs(path: Path, size: str = "64k") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` (root only; the test is skipped elsewhere), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                             text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


@pytest.mark.parametrize("writer", ["np.save", "torch.save"])
def test_a_real_full_disk_is_one_line_and_leaves_nothing(made, tmp_path, writer):
    with _small_tmpfs(tmp_path / "small") as small:
        if writer == "np.save":  # keys.npy of 5000 × 64 float32 (1.3 MB) does not fit in 64 KiB
            done = run_process("generate", "--num-keys", 5000, "--num-queries", 100, "--dim", 64,
                               "--out", small / "data")
            written = re.escape(str(small / "data" / "keys.npy"))
        else:  # a width-512 model (~1 MB) does not fit either
            done = run_process("fit", "--keys", made["keys"], "--queries", made["queries"], "--out", small / "m.pt",
                               *TINY_FIT, "--width", 512)
            written = re.escape(str(small / "m.pt")) + r"(\.ckpt)?"
        line = _one_line(done.returncode, done.stderr)
        assert re.fullmatch(rf"amips: error: cannot write {written}: No space left on device", line), line
        assert [p for p in small.rglob("*") if not p.is_dir()] == []  # no partial file, temporary or lock


# ------------------------------------------------------------------------- hand-made model files



def _drop(field: str) -> Callable[[dict], None]:
    return lambda payload: payload.pop(field)


MODEL_DAMAGE = [
    ("width-missing", _drop("width"), "field 'width' must be an integer in [1, 10000000], got None"),
    ("width-a-string", set_at("width", "16"), "field 'width' must be an integer"),
    ("width-absurd", set_at("width", 10**9), "field 'width' must be an integer in [1, 10000000], got 1000000000"),
    ("dim-absurd", set_at("dim", 10**5), "dim 100000 and width 16 describe 10003300288 parameters"),
    ("num-keys-negative", set_at("num_keys", -1), "field 'num_keys' must be an integer"),
    ("spec-a-list", set_at("spec", [1, 2]), "field 'spec' must be a mapping, got list"),
    ("spec-kind-missing", lambda p: p["spec"].pop("kind"), "field 'spec' is invalid"),
    ("spec-depth-a-string", set_at("spec.depth", "2"), "field 'spec.depth' must be int"),
    ("spec-depth-absurd", set_at("spec.depth", 10**9), "field 'spec.depth' must be int at most 10000"),
    ("spec-outputs-absurd", set_at("spec.num_outputs", 10**6), "describe 200000416 parameters but field 'state_dict'"),
    ("spec-slope-a-string", set_at("spec.activation_slope", "steep"), "field 'spec.activation_slope' must be float"),
    ("state-dict-not-tensors", set_at("state_dict", {"net.first.weight": [1.0]}), "field 'state_dict' must map"),
    ("train-info-a-list", set_at("train_info", [1]), "field 'train_info' must be a mapping"),
    ("data-a-string", set_at("data", "keys.npy"), "field 'data' must be a mapping"),
]


@pytest.mark.parametrize("damage,expected", [pytest.param(d, e, id=i) for i, d, e in MODEL_DAMAGE])
def test_hand_made_model_files_are_refused_naming_the_field(made, tmp_path, capsys, damage, expected):
    payload = torch.load(made["model"], map_location="cpu", weights_only=True)
    damage(payload)
    model = tmp_path / "hand-made.pt"
    torch.save(payload, model)
    for argv in (["search", "--keys", made["keys"], "--queries", made["queries"], "--out", tmp_path / "r.npz"],
                 ["predict", "--queries", made["queries"], "--out", tmp_path / "p.npy"]):
        result = run(capsys, *argv, "--model", model)
        _one_line(result.code, result.err, str(model), expected)
    assert not (tmp_path / "r.npz").exists() and not (tmp_path / "p.npy").exists()


# ------------------------------------------------------------------------- search --k beyond memory


def test_search_k_beyond_memory_fails_fast_with_the_estimate(made, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("amips.core.resources.available_memory", lambda: 2**20)  # a machine with 1 MiB free

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded before the memory check")

    monkeypatch.setattr("amips.search.load_mips_model", never)
    result = run(capsys, "search", "--model", made["model"], "--keys", made["keys"], "--queries", made["queries"],
                 "--k", 200, "--out", tmp_path / "r.json")
    _one_line(result.code, result.err, "searching the top 200 keys of 100 queries (JSON output) needs about",
              "of memory but 1 MiB is available")
    assert not (tmp_path / "r.json").exists()


# ------------------------------------------------------------------------- a model on labels of the other kind


@pytest.mark.parametrize("model,labels,expected", [
    ("router", "labels", "is a cluster router with 3 outputs but {labels} holds single-target MIPS labels"),
    ("model", "labels3", "is a MIPS model (1 output) but {labels} holds router labels of 3 clusters"),
])
def test_a_model_evaluated_on_labels_of_the_other_kind_is_refused(made, tmp_path, capsys, model, labels, expected):
    out = tmp_path / "metrics.json"
    result = run(capsys, "evaluate", "--model", made[model], "--data", made["data"], "--labels", made[labels],
                 "--out", out)
    _one_line(result.code, result.err, str(made[model]), expected.format(labels=made[labels]))
    assert not out.exists()


# ------------------------------------------------------------------------- long output names


def test_long_legal_output_names_work(made, tmp_path, capsys, monkeypatch):
    renamed: list[str] = []
    real_replace = os.replace

    def spy(src, dst, *args, **kwargs):
        renamed.append(Path(src).name)
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", spy)
    stem = "é" * 60 + "x" * 130  # 250 bytes; with a suffix every output name has 253-255, the limit
    model = tmp_path / f"{stem[:-2]}.pt"  # its checkpoint (.pt.ckpt) and IVF index (.pt.ivf) need shorter names
    outputs = {model, sibling_path(model, ".ivf"), tmp_path / f"{stem}.npz", tmp_path / f"{stem}.npy",
               tmp_path / f"{stem}.json"}
    common = ("--model", model, "--queries", made["queries"])
    for argv in (("fit", "--keys", made["keys"], "--queries", made["queries"], "--out", model, *TINY_FIT,
                  "--checkpoint-every", 5),
                 ("fit", "--keys", made["keys"], "--queries", made["queries"], "--out", model, *TINY_FIT,
                  "--retrieval", "list_ce"),
                 ("search", *common, "--keys", made["keys"], "--out", tmp_path / f"{stem}.npz"),
                 ("predict", *common, "--out", tmp_path / f"{stem}.npy"),
                 ("evaluate", *common, "--keys", made["keys"], "--out", tmp_path / f"{stem}.json")):
        result = run(capsys, *argv)
        assert result.code == 0, result.err
    assert {p for p in tmp_path.iterdir() if not p.name.startswith(".")} == outputs
    assert max(len(p.name.encode()) for p in outputs) == 255
    assert renamed and max(len(name.encode()) for name in renamed) <= 255


# ------------------------------------------------------------------------- non-finite metrics in JSON


def _refuse_non_json(name: str) -> None:
    raise AssertionError(f"{name} is not JSON")


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_non_finite_metrics_are_written_as_null_with_a_flag(made, tmp_path, capsys):
    payload = torch.load(made["model"], map_location="cpu", weights_only=True)
    last = [name for name in payload["state_dict"] if name.startswith("net.z_weights.")][-1]
    payload["state_dict"][last] = payload["state_dict"][last] * 1e30  # finite weights, overflowing key errors
    payload["weights_sha256"] = tensors_digest(payload["state_dict"])
    model = tmp_path / "overflowing.pt"
    torch.save(payload, model)
    out = tmp_path / "metrics.json"
    result = run(capsys, "evaluate", "--model", model, "--keys", made["keys"], "--queries", made["queries"],
                 "--out", out)
    assert result.code == 0, result.err
    record = json.loads(out.read_text(), parse_constant=_refuse_non_json)
    assert record["key_error"] is None and record["non_finite_fields"]["key_error"] == "inf"
    for name in record["non_finite_fields"]:  # nested fields (the baselines' model metrics) by dotted path
        value = record
        for part in name.split("."):
            value = value[part]
        assert value is None, name
    restored = load_runs([out]).iloc[0]  # the tables read the flag back: an infinite error stays infinite
    assert restored["key_error"] == np.inf and "non_finite_fields" not in restored


# ------------------------------------------------------------------------- messages name the option typed


def test_messages_name_the_option_typed(made, tmp_path, capsys):
    bad = tmp_path / "val.npy"
    np.save(bad, np.load(made["queries"])[:, :6])
    result = run(capsys, "fit", "--keys", made["keys"], "--queries", made["queries"], "--val-queries", bad,
                 "--out", tmp_path / "m.pt", *TINY_FIT)
    _one_line(result.code, result.err, f"--val-queries ({bad}) has dimension 6 but the keys have dimension 8")
    result = run(capsys, "search", "--model", made["model"], "--keys", made["keys"], "--queries", made["queries"],
                 "--out", made["keys"])
    _one_line(result.code, result.err, f"--out {made['keys']} is the --keys input")
