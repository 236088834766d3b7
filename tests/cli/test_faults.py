"""Faults: SIGKILL mid-training then resume, atomic outputs, permission denied, disk full, pickled payloads."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from amips.data.io import MARKER_DIR, OutputError, atomic_write_text, written_by_amips
from clitools import AMIPS, TINY_FIT, TINY_MODEL, files_under, make_data, run, run_process

RESUME_STEPS = ("--steps", 1000, "--checkpoint-every", 5)


def _kill_after_first_checkpoint(argv: list, checkpoint: Path, timeout: float = 240) -> int:
    """Start ``amips argv…``, SIGKILL it as soon as ``checkpoint`` exists; return its exit status."""
    proc = subprocess.Popen([str(AMIPS), *map(str, argv)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    try:
        while not checkpoint.exists():
            if proc.poll() is not None:
                pytest.fail(f"amips ended before writing a checkpoint: {proc.communicate()}")
            if time.monotonic() > deadline:
                pytest.fail("no checkpoint appeared")
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    return proc.returncode


def _state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def _metrics(capsys, model: Path, data: Path, tmp: Path) -> dict[str, float]:
    """The evaluation metrics of ``model`` on the dataset's queries (train info and timings left out)."""
    out = tmp / f"{model.parent.name}-{model.stem}.json"
    assert run(capsys, "evaluate", "--model", model, "--keys", data / "keys.npy", "--queries", data / "queries.npy",
               "--out", out).code == 0
    record = json.loads(out.read_text())
    info = torch.load(model, map_location="cpu", weights_only=True)["train_info"]
    return {k: v for k, v in record.items() if k not in info and k != "eval_seconds"}


def _fit_argv(data: Path, out_dir: Path) -> list:
    """`amips fit` writing ``out_dir/model.pt`` (checkpoint ``model.pt.ckpt``)."""
    return ["fit", "--keys", data / "keys.npy", "--queries", data / "queries.npy", "--out", out_dir / "model.pt",
            *TINY_FIT, *RESUME_STEPS]


def _train_argv(data: Path, labels: Path, out_dir: Path) -> list:
    """`amips train` writing ``out_dir/model.pt`` (checkpoint ``checkpoint.pt``)."""
    return ["train", "--data", data, "--labels", labels, "--out", out_dir, *TINY_MODEL, "--batch-size", 32,
            "--threads", 1, "--quiet", *RESUME_STEPS]


@pytest.mark.parametrize("command", ["fit", "train"])
def test_sigkill_then_rerun_resumes_to_the_same_weights_and_metrics(tmp_path, capsys, command):
    data = make_data(tmp_path / "data")
    if command == "fit":
        argv, checkpoint_name = partial(_fit_argv, data), "model.pt.ckpt"
    else:
        assert run(capsys, "labels", "--data", data, "--out", tmp_path / "labels", "--noise-copies", 1).code == 0
        argv, checkpoint_name = partial(_train_argv, data, tmp_path / "labels"), "checkpoint.pt"
    reference, crashed = tmp_path / "reference", tmp_path / "crashed"

    assert run(capsys, *argv(reference)).code == 0  # uninterrupted

    status = _kill_after_first_checkpoint(argv(crashed), crashed / checkpoint_name)
    assert status == -signal.SIGKILL, "the run finished before it could be killed; raise RESUME_STEPS"
    assert (crashed / checkpoint_name).exists() and not (crashed / "model.pt").exists()

    rerun = run_process(*argv(crashed))
    assert rerun.returncode == 0, rerun.stderr
    info = torch.load(crashed / "model.pt", map_location="cpu", weights_only=True)["train_info"]
    assert 0 < info["resumed_from_step"] < 1000
    assert not (crashed / checkpoint_name).exists()

    expected, resumed = _state(reference / "model.pt"), _state(crashed / "model.pt")
    assert expected.keys() == resumed.keys()
    for name in expected:
        assert torch.equal(expected[name], resumed[name]), name
    resumed_metrics = _metrics(capsys, crashed / "model.pt", data, tmp_path)
    assert resumed_metrics == _metrics(capsys, reference / "model.pt", data, tmp_path)
    assert "match_rate" in resumed_metrics


def test_every_output_file_is_renamed_into_place(tmp_path, capsys, monkeypatch):
    renamed: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def spy(src, dst, *args, **kwargs):
        renamed.append((Path(src), Path(dst)))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", spy)
    data, labels, out = tmp_path / "data", tmp_path / "labels", tmp_path / "out"
    keys, queries = data / "keys.npy", data / "queries.npy"
    commands = [
        ("generate", "--num-keys", 200, "--num-queries", 100, "--dim", 8, "--out", data),
        ("labels", "--data", data, "--out", labels, "--noise-copies", 1),
        ("train", "--data", data, "--labels", labels, "--out", out / "run", *TINY_MODEL, "--batch-size", 32,
         "--steps", 20, "--checkpoint-every", 5, "--quiet"),
        ("evaluate", "--model", out / "run" / "model.pt", "--data", data, "--labels", labels, "--out", out / "m.json"),
        ("fit", "--keys", keys, "--queries", queries, "--out", out / "fit.pt", *TINY_FIT, "--checkpoint-every", 5),
        *[("search", "--model", out / "fit.pt", "--keys", keys, "--queries", queries, "--out", out / f"r{suffix}")
          for suffix in (".npz", ".npy", ".json")],
        ("evaluate", "--model", out / "fit.pt", "--keys", keys, "--queries", queries, "--out", out / "q.json"),
    ]
    for argv in commands:
        assert run(capsys, *argv).code == 0, argv
    for src, dst in renamed:
        assert src.parent == dst.parent and src.name.startswith(f".{dst.name}."), (src, dst)
    written = {tmp_path / name for name in files_under(tmp_path)}
    outputs = {dst for _, dst in renamed if MARKER_DIR not in dst.parts}
    assert written == outputs - {out / "run" / "checkpoint.pt", out / "fit.pt.ckpt"}
    assert all(written_by_amips(path) for path in written)  # each recorded (in .amips-written/) as amips' own


def _fail_writing(exc: OSError, file_arg: int = 0):
    """A stand-in writer that leaves a partial file (its argument ``file_arg``), then fails like the OS would."""

    def write(*args, **kwargs):
        target = args[file_arg]
        if hasattr(target, "write"):
            target.write(b"partial")
        else:
            Path(target).write_bytes(b"partial")
        raise exc

    return write


def test_disk_full_while_saving_arrays(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(np, "save", _fail_writing(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))))
    out = tmp_path / "data"
    result = run(capsys, "generate", "--num-keys", 50, "--num-queries", 20, "--dim", 4, "--out", out)
    assert result.code == 2
    assert result.err.strip() == f"amips: error: cannot write {out / 'keys.npy'}: No space left on device"
    assert files_under(out) == set()  # the partial temporary file is gone


def test_disk_full_while_checkpointing(tmp_path, capsys, monkeypatch):
    data = make_data(tmp_path / "data")
    monkeypatch.setattr(torch, "save", _fail_writing(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), file_arg=1))
    out = tmp_path / "out"
    result = run(capsys, *_fit_argv(data, out))
    assert result.code == 2
    assert result.err.strip() == f"amips: error: cannot write {out / 'model.pt.ckpt'}: No space left on device"
    assert files_under(out) == set()


def test_permission_denied_on_the_output_directory(tmp_path, capsys, monkeypatch):
    def refuse(*args, dir=None, **kwargs):  # noqa: A002 - mkstemp's keyword
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), dir)

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    out = tmp_path / "locked"
    result = run(capsys, "generate", "--num-keys", 50, "--num-queries", 20, "--dim", 4, "--out", out)
    assert result.code == 2
    assert result.err.strip() == f"amips: error: cannot write {out / 'keys.npy'}: Permission denied"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions (the case above simulates it)")
def test_read_only_directory(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = run(capsys, "generate", "--num-keys", 50, "--num-queries", 20, "--dim", 4, "--out", locked)
    assert result.code == 2 and "Permission denied" in result.err and str(locked) in result.err


def test_output_path_below_a_regular_file(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory")
    result = run(capsys, "generate", "--num-keys", 50, "--num-queries", 20, "--dim", 4, "--out", blocker / "sub")
    assert result.code == 2 and "cannot write" in result.err and "not a directory" in result.err.lower()
    assert blocker.read_text() == "not a directory"


def test_output_error_keeps_errno_and_the_destination_untouched(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    target.write_text("old")
    monkeypatch.setattr(Path, "write_text", _fail_writing(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))))
    with pytest.raises(OutputError) as info:
        atomic_write_text(target, "new")
    assert info.value.errno == errno.ENOSPC and str(target) in str(info.value)
    monkeypatch.undo()
    assert target.read_text() == "old" and files_under(tmp_path) == {"out.txt"}


class _Exploit:
    """Unpickling this calls ``Path.touch(marker)``: loading it must never happen."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_model_files_are_loaded_without_running_pickled_code(tmp_path, capsys):
    data = make_data(tmp_path / "data")
    marker = tmp_path / "pwned"
    torch.save({"spec": {}, "state_dict": _Exploit(marker)}, tmp_path / "evil.pt")
    result = run(capsys, "search", "--model", tmp_path / "evil.pt", "--keys", data / "keys.npy",
                 "--queries", data / "queries.npy", "--out", tmp_path / "r.npz")
    assert result.code == 2 and "evil.pt" in result.err and not marker.exists()


def test_arrays_are_loaded_without_running_pickled_code(tmp_path, capsys):
    data = make_data(tmp_path / "data")
    marker = tmp_path / "pwned"
    np.save(tmp_path / "evil.npy", np.array([_Exploit(marker)], dtype=object), allow_pickle=True)
    result = run(capsys, "fit", "--keys", data / "keys.npy", "--queries", tmp_path / "evil.npy",
                 "--out", tmp_path / "m.pt", *TINY_FIT)
    assert result.code == 2 and "pickled object array" in result.err and not marker.exists()
