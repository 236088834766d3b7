"""A folder is one unit; one writer per output (items 3 and 5 of the issue "Results you can trust", second round).

Each test here failed before the fix: a labels folder made from other keys of the same shape was trained on (0 % of
its targets right), a labels run killed half-way left a folder mixing two splits that ``train`` accepted (test
queries leaked into training), and two ``amips train`` on one output both reported "saved" while one result was lost.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from amips.core.fingerprint import array_digest
from amips.data.io import InputError
from amips.data.manifest import MANIFEST, remove_manifest, verify_manifest, write_manifest
from amips.pipeline.stages.labels import make_labels
from clitools import AMIPS, TINY_MODEL, make_data, one_error_line, run

LABELS_ARGS = ("--noise-copies", 4, "--test-size", 0.9, "--quiet")  # the test split (written last) is the biggest
TRAIN = (*TINY_MODEL, "--steps", 20, "--batch-size", 32, "--threads", 1, "--quiet")



@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Two datasets of the same shape (200 keys, 100 queries, d = 8; other keys) and labels made from the first."""
    root = tmp_path_factory.mktemp("small")
    data, other = make_data(root / "data"), make_data(root / "other", seed=1)
    make_labels(data, root / "labels", {"noise_copies": 1, "test_size": 0.25})
    make_labels(other, root / "other_labels", {"noise_copies": 1, "test_size": 0.25})
    return root


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A dataset large enough for its labels to take a moment to write (20000 queries, d = 128: ~50 MB of test
    queries) and complete labels made from it (seed 0)."""
    root = tmp_path_factory.mktemp("big")
    data = make_data(root / "data", num_keys=300, num_queries=20000, dim=128)
    make_labels(data, root / "labels", {"noise_copies": 4, "test_size": 0.9, "seed": 0})
    return root


def _copy(folder: Path, to: Path) -> Path:
    shutil.copytree(folder, to)
    return to


# ------------------------------------------------------------------------------------- the manifest itself


def test_manifest_lists_every_file_and_is_verified(tmp_path):
    (tmp_path / "a.npy").write_bytes(b"abc")
    (tmp_path / "b.json").write_text("{}")
    manifest = write_manifest(tmp_path, "labels", ["a.npy", "b.json"], {"keys": "sha256:1"}, {"seed": 3})
    assert set(manifest["files"]) == {"a.npy", "b.json"} and manifest["settings"] == {"seed": 3}
    assert manifest["files"]["a.npy"]["bytes"] == 3
    read = verify_manifest(tmp_path, "labels", {"keys": ("sha256:1", "keys.npy")})
    assert read.lists("a.npy") and not read.lists("c.npy") and read.inputs == {"keys": "sha256:1"}
    with pytest.raises(InputError, match="is a labels folder .* expected a dataset folder"):
        verify_manifest(tmp_path, "dataset")
    with pytest.raises(InputError, match=r"made from other keys than k.npy \(keys digest sha256:1… in"):
        verify_manifest(tmp_path, "labels", {"keys": ("sha256:2", "k.npy")})
    remove_manifest(tmp_path)
    with pytest.raises(InputError, match=f"labels folder {tmp_path} has no {MANIFEST}: its writer was killed"):
        verify_manifest(tmp_path, "labels")


@pytest.mark.parametrize("damage,message", [
    (lambda d: (d / MANIFEST).write_text((d / MANIFEST).read_text()[:40]), "is unreadable or partial"),
    (lambda d: (d / MANIFEST).write_text('{"format": 1, "kind": "labels"}'), "is partial or malformed"),
    (lambda d: (d / "a.npy").unlink(), "a.npy is missing: labels folder .* is incomplete"),
    (lambda d: (d / "a.npy").write_bytes(b"abcd"), "a.npy changed after it was written"),
    (lambda d: (d / "a.npy").write_bytes(b"abd"), "a.npy changed after it was written"),  # same size
])
def test_a_damaged_folder_is_refused_in_one_line_naming_it(tmp_path, damage, message):
    (tmp_path / "a.npy").write_bytes(b"abc")
    write_manifest(tmp_path, "labels", ["a.npy"], {}, {})
    damage(tmp_path)
    with pytest.raises(InputError, match=message) as err:
        verify_manifest(tmp_path, "labels")
    assert str(tmp_path) in str(err.value) and "\n" not in str(err.value)


def test_writers_leave_a_manifest_of_every_file(small):
    dataset = json.loads((small / "data" / MANIFEST).read_text())
    assert dataset["kind"] == "dataset" and set(dataset["files"]) == {"keys.npy", "queries.npy", "meta.json"}
    labels = json.loads((small / "labels" / MANIFEST).read_text())
    assert labels["kind"] == "labels" and labels["settings"]["config"]["noise_copies"] == 1
    assert set(labels["files"]) == {f"{s}_{a}.npy" for s in ("train", "val", "test") for a in
                                    ("queries", "targets", "source")} | {"centroids.npy", "assignments.npy",
                                                                         "meta.json"}
    keys, queries = (np.load(small / "data" / f"{n}.npy").astype(np.float32) for n in ("keys", "queries"))
    assert labels["inputs"] == {"keys": array_digest(keys), "queries": array_digest(queries)}


# ------------------------------------------------------------------------------------- readers refuse


def _train(small: Path, labels: Path, out: Path, data: Path | None = None) -> list:
    return ["train", "--data", data or small / "data", "--labels", labels, "--out", out, *TRAIN]


def test_labels_from_other_keys_of_the_same_shape_are_refused_by_train_and_evaluate(small, tmp_path, capsys):
    foreign = small / "other_labels"  # same shapes, made from the other dataset's keys
    line = one_error_line(run(capsys, *_train(small, foreign, tmp_path / "run")))
    assert f"labels folder {foreign} was made from other keys than {small / 'data' / 'keys.npy'}" in line, line
    assert not (tmp_path / "run" / "model.pt").exists()
    assert run(capsys, *_train(small, small / "labels", tmp_path / "run")).code == 0
    model = tmp_path / "run" / "model.pt"
    line = one_error_line(run(capsys, "evaluate", "--model", model, "--data", small / "data", "--labels", foreign))
    assert f"labels folder {foreign} was made from other keys" in line, line
    line = one_error_line(run(capsys, "evaluate", "--model", model, "--keys", small / "data" / "keys.npy",
                               "--labels", foreign, "--out", tmp_path / "e.json"))
    assert "was made from other keys" in line and not (tmp_path / "e.json").exists()


def test_a_changed_file_is_refused(small, tmp_path, capsys):
    labels = _copy(small / "labels", tmp_path / "labels")
    targets = labels / "train_targets.npy"
    raw = bytearray(targets.read_bytes())
    raw[-1] ^= 1  # one bit of the last target
    targets.write_bytes(bytes(raw))
    line = one_error_line(run(capsys, *_train(small, labels, tmp_path / "run")))
    assert f"{targets} changed after it was written" in line, line
    data = _copy(small / "data", tmp_path / "data")
    raw = bytearray((data / "keys.npy").read_bytes())
    raw[-1] ^= 1
    (data / "keys.npy").write_bytes(bytes(raw))
    line = one_error_line(run(capsys, *_train(small, small / "labels", tmp_path / "run", data=data)))
    assert f"{data / 'keys.npy'} changed after it was written" in line, line


@pytest.mark.parametrize("targets,message", [
    (lambda t, m: np.where(t == t.max(), m, t), "must be key indices in \\[0, 200\\), got values from 0 to 200"),
    (lambda t, m: np.where(t == t.min(), -1, t), "must be key indices in \\[0, 200\\), got values from -1"),
    (lambda t, m: t.astype(np.float64), "must be integer key indices, got dtype float64"),
])
def test_targets_outside_the_keys_are_refused(small, tmp_path, capsys, targets, message):
    labels = _copy(small / "labels", tmp_path / "labels")
    path = labels / "train_targets.npy"
    np.save(path, targets(np.load(path), 200))
    manifest = json.loads((labels / MANIFEST).read_text())
    write_manifest(labels, "labels", manifest["files"], manifest["inputs"], manifest["settings"])  # a buggy writer
    line = one_error_line(run(capsys, *_train(small, labels, tmp_path / "run")))
    assert f"targets {path} " in line and message.replace("\\", "") in line, line


def test_a_dataset_folder_without_a_manifest_is_refused(small, tmp_path, capsys):
    data = _copy(small / "data", tmp_path / "data")
    (data / MANIFEST).unlink()
    line = one_error_line(run(capsys, "labels", "--data", data, "--out", tmp_path / "labels"))
    assert f"dataset folder {data} has no {MANIFEST}" in line and not (tmp_path / "labels").exists()
    one_error_line(run(capsys, *_train(small, small / "labels", tmp_path / "run", data=data)))


# ------------------------------------------------------------------------------------- killed and failed writers


def _amips(*argv: object) -> list[str]:
    return [str(AMIPS), *map(str, argv)]


def _replaced(path: Path, inode: int) -> bool:
    try:
        return path.stat().st_ino != inode
    except FileNotFoundError:
        return False


def test_labels_killed_half_way_leave_a_folder_that_train_refuses(big, tmp_path, capsys):
    """SIGKILL `amips labels` (another seed) once its first new file is in place: the folder then mixes the new
    training split with the old test split, and has no manifest."""
    for _ in range(3):  # the writer may finish in the instant between the first file and the kill: start again
        labels = _copy(big / "labels", tmp_path / "labels")
        first, last = labels / "train_queries.npy", labels / "test_queries.npy"
        inodes = first.stat().st_ino, last.stat().st_ino
        proc = subprocess.Popen(_amips("labels", "--data", big / "data", "--out", labels, *LABELS_ARGS, "--seed", 1),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 240
        while not _replaced(first, inodes[0]) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.0005)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        if proc.returncode == -signal.SIGKILL and _replaced(first, inodes[0]) and not _replaced(last, inodes[1]):
            break
        shutil.rmtree(labels)
    else:
        pytest.fail("could not kill `amips labels` between its first and last file in three tries")
    assert not (labels / MANIFEST).exists()
    line = one_error_line(run(capsys, *_train(big, labels, tmp_path / "run")))
    assert f"labels folder {labels} has no {MANIFEST}: its writer was killed" in line, line
    assert not (tmp_path / "run" / "model.pt").exists()


def test_labels_failing_half_way_leave_a_folder_that_train_refuses(big, tmp_path, capsys):
    """`amips labels` whose test split does not fit (a file-size limit, as a full disk): it fails after writing the
    new training split over the old folder, which train then refuses."""
    labels = _copy(big / "labels", tmp_path / "labels")
    limit = (labels / "train_queries.npy").stat().st_size * 2  # the training split fits, the 9× test split not

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    before = (labels / "train_source.npy").read_bytes()
    proc = subprocess.run(_amips("labels", "--data", big / "data", "--out", labels, *LABELS_ARGS, "--seed", 1),
                          capture_output=True, text=True, preexec_fn=limit_file_size, timeout=300)
    assert proc.returncode == 2 and f"cannot write {labels / 'test_queries.npy'}" in proc.stderr, proc.stderr
    assert (labels / "train_source.npy").read_bytes() != before  # the folder now mixes two splits
    line = one_error_line(run(capsys, *_train(big, labels, tmp_path / "run")))
    assert f"labels folder {labels} has no {MANIFEST}" in line, line
    assert run(capsys, "labels", "--data", big / "data", "--out", labels, *LABELS_ARGS).code == 0  # rerun: usable
    assert run(capsys, *_train(big, labels, tmp_path / "run")).code == 0


# ------------------------------------------------------------------------------------- one writer per output


def _wait_for_lock(proc: subprocess.Popen, lock: Path, timeout: float = 240) -> None:
    """Wait until ``proc`` holds the lock ``lock`` (its pid written in it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if lock.read_text().strip() == str(proc.pid):
                return
        except FileNotFoundError:
            pass
        if proc.poll() is not None:
            pytest.fail(f"the first writer ended before it was seen holding {lock}: {proc.communicate()}")
        time.sleep(0.0005)
    pytest.fail(f"{lock} was never taken")


def _second_writer_cases(small: Path, big: Path, tmp: Path) -> dict[str, tuple[list, Path]]:
    """command → (argv, output) of a run that holds its lock for a moment (≥ ~0.5 s)."""
    model = tmp / "model" / "model.pt"
    return {
        "generate": (["generate", "--num-keys", 200000, "--num-queries", 50000, "--dim", 32, "--quiet"], tmp / "gen"),
        "labels": (["labels", "--data", big / "data", *LABELS_ARGS], tmp / "labels"),
        "train": (["train", "--data", small / "data", "--labels", small / "labels", *TINY_MODEL, "--steps", 300,
                   "--batch-size", 32, "--threads", 1, "--quiet"], tmp / "run"),
        "evaluate": (["evaluate", "--model", model, "--data", big / "data", "--labels", big / "labels", "--quiet"],
                     tmp / "metrics.json"),
    }


@pytest.mark.parametrize("command", ["generate", "labels", "train", "evaluate"])
def test_a_second_writer_of_one_output_is_refused_in_one_line(small, big, tmp_path, capsys, command):
    """Two real `amips <command>` processes on one output: the second is refused while the first holds the output
    (stopped with SIGSTOP while it does, so that the overlap does not depend on timing); the first then finishes."""
    if command == "evaluate":
        assert run(capsys, "train", "--data", big / "data", "--labels", big / "labels", "--out",
                   tmp_path / "model", *TRAIN).code == 0
    argv, out = _second_writer_cases(small, big, tmp_path)[command]
    argv = [*argv, "--out", out]
    env = {**os.environ, "AMIPS_DEBUG": ""}
    first = subprocess.Popen(_amips(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env)
    try:
        _wait_for_lock(first, out.with_name(f".{out.name}.lock"))
        first.send_signal(signal.SIGSTOP)
        second = subprocess.run(_amips(*argv), capture_output=True, text=True, env=env, timeout=300)
    finally:
        first.send_signal(signal.SIGCONT)
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    lines = second.stderr.strip().splitlines()
    assert second.returncode == 2 and len(lines) == 1 and "Traceback" not in second.stderr, second.stderr
    assert lines[0].startswith(f"amips: error: {out} is being written by another ") and f"(pid {first.pid})" in lines[0]
    assert "stale" not in lines[0] and "--restart" not in lines[0] and second.stdout == ""
    assert not out.with_name(f".{out.name}.lock").exists()
