"""Never destroy a user's file: an output is never an input nor a file of an input folder, and an existing file that
amips did not write is replaced only with ``--overwrite`` (amips' own earlier output is: a rerun just works).

Every case runs the real command line (:func:`clitools.run`) on files made as a user would make them (``np.save``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from amips.cli import main
from clitools import TINY_FIT, TINY_MODEL, make_data, run


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A dataset folder, a labels folder made from it, and a model fitted on its keys (all written by amips)."""
    root = tmp_path_factory.mktemp("made")
    data = make_data(root / "data")
    assert main([str(a) for a in ("labels", "--data", data, "--out", root / "labels", "--noise-copies", 1,
                                  "--quiet")]) == 0
    assert main([str(a) for a in ("fit", "--keys", data / "keys.npy", "--queries", data / "queries.npy",
                                  "--out", root / "model.pt", *TINY_FIT)]) == 0
    return data, root / "labels", root / "model.pt"


def _refused(result, *fragments: str) -> str:
    """The one error line of a refused command, checked to contain every fragment."""
    assert result.code == 2 and "Traceback" not in result.err, result.err
    line = result.err.strip()
    assert line.startswith("amips: error: ") and "\n" not in line, result.err
    for fragment in fragments:
        assert fragment in line, line
    return line


def _users_file(path: Path) -> bytes:
    """A file the user made at ``path`` (as np.save writes it); returns its bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:  # whatever the suffix
        np.save(fh, np.arange(12, dtype=np.float32).reshape(3, 4))
    return path.read_bytes()


# ------------------------------------------------------------------------- outputs never land in an input folder


@pytest.mark.parametrize("name", ["test_targets.npy", "metrics.json"])
def test_evaluate_never_writes_into_the_labels_folder_it_reads(made, capsys, name):
    data, labels, model = made
    out = labels / name
    before = out.read_bytes() if out.exists() else None
    result = run(capsys, "evaluate", "--model", model, "--data", data, "--labels", labels, "--out", out)
    _refused(result, f"--out {out} is in the --labels folder {labels}", "could destroy the input")
    assert (out.read_bytes() if out.exists() else None) == before


def test_a_labels_folder_below_the_dataset_folder_is_allowed(tmp_path, capsys):
    data = make_data(tmp_path / "data")
    for _ in range(2):  # and rerun: its own output is replaced
        assert run(capsys, "labels", "--data", data, "--out", data / "labels", "--noise-copies", 1).code == 0


# ------------------------------------------------------------------------- a user's file is replaced only with --overwrite


def test_predict_keeps_the_users_keys_of_the_readme_example(made, tmp_path, capsys):
    data, _, model = made
    keys = tmp_path / "keys.npy"
    users = _users_file(keys)
    argv = ["predict", "--model", model, "--queries", data / "queries.npy", "--out", keys]
    _refused(run(capsys, *argv), f"--out {keys} exists and was not written by amips", "--overwrite")
    assert keys.read_bytes() == users
    assert run(capsys, *argv, "--overwrite").code == 0
    assert np.load(keys).shape == (100, 8)


def _file_commands(made: tuple[Path, Path, Path], out: Path) -> dict[str, list]:
    data, labels, model = made
    keys, queries = data / "keys.npy", data / "queries.npy"
    search = ["search", "--model", model, "--keys", keys, "--queries", queries, "--k", 3, "--out"]
    return {
        "search-npz": [*search, out.with_suffix(".npz")],
        "search-npy": [*search, out.with_suffix(".npy")],
        "search-json": [*search, out.with_suffix(".json")],
        "predict-npz": ["predict", "--model", model, "--queries", queries, "--out", out.with_suffix(".npz")],
        "evaluate-queries": ["evaluate", "--model", model, "--keys", keys, "--queries", queries,
                             "--out", out.with_suffix(".json")],
        "evaluate-labels": ["evaluate", "--model", model, "--data", data, "--labels", labels,
                            "--out", out.with_suffix(".json")],
        "fit": ["fit", "--keys", keys, "--queries", queries, "--out", out.with_suffix(".pt"), *TINY_FIT],
    }


@pytest.mark.parametrize("command", ["search-npz", "search-npy", "search-json", "predict-npz", "evaluate-queries",
                                     "evaluate-labels", "fit"])
def test_file_outputs_replace_only_what_amips_wrote(made, tmp_path, capsys, command):
    argv = _file_commands(made, tmp_path / "out")[command]
    out = Path(argv[argv.index("--out") + 1])
    users = _users_file(out)
    _refused(run(capsys, *argv), f"{out} exists and was not written by amips; pass --overwrite")
    assert out.read_bytes() == users
    out.unlink()
    assert run(capsys, *argv).code == 0
    assert run(capsys, *argv).code == 0, "a rerun replaces the command's own output"


def test_a_file_amips_wrote_then_the_user_changed_is_protected(made, tmp_path, capsys):
    data, _, model = made
    out = tmp_path / "predicted.npy"
    argv = ["predict", "--model", model, "--queries", data / "queries.npy", "--out", out]
    assert run(capsys, *argv).code == 0
    users = _users_file(out)  # the user saves their own array under that name
    _refused(run(capsys, *argv), "exists and was not written by amips")
    assert out.read_bytes() == users


def _folder_command(made: tuple[Path, Path, Path], command: str, out: Path) -> tuple[list, str]:
    """argv of a command writing folder ``out``, and the name of a file it writes there."""
    data, labels, _ = made
    return {
        "generate": (["generate", "--num-keys", 50, "--num-queries", 20, "--dim", 4, "--out", out], "keys.npy"),
        "labels": (["labels", "--data", data, "--out", out, "--noise-copies", 1], "meta.json"),
        "train": (["train", "--data", data, "--labels", labels, "--out", out, *TINY_MODEL, "--steps", 10,
                   "--batch-size", 32, "--quiet"], "model.pt"),
    }[command]


@pytest.mark.parametrize("command", ["generate", "labels", "train"])
def test_folder_outputs_holding_a_users_file_need_overwrite(made, tmp_path, capsys, command):
    out = tmp_path / "out"
    argv, name = _folder_command(made, command, out)
    users = _users_file(out / name)
    _refused(run(capsys, *argv), f"--out {out} holds files amips did not write ({name})", "--overwrite")
    assert (out / name).read_bytes() == users
    assert run(capsys, *argv, "--overwrite").code == 0
    assert run(capsys, *argv).code == 0, "a rerun replaces the command's own output"
