"""amips.cli.preflight: the files of a command are checked from their headers before torch is imported, with the
loaders' own one-line messages, and the first line says what the command is about to read."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from amips.cli import build_parser, main, preflight
from amips.core.errors import InputError, OutputError

AMIPS = Path(sys.executable).with_name("amips")

# Runs amips.cli.main on each argv of the JSON list in argv[1] in one fresh interpreter; prints, per argv, the exit
# code, the stderr lines and whether torch or faiss had been imported by then. FAKE_HANDLER replaces every command's
# handler by one that only records that it ran (so that a command whose files pass does not import torch either).
PROBE = r"""
import contextlib, io, json, sys
import amips.cli
if sys.argv[2] == "fake":
    for command in amips.cli.COMMANDS:
        command.run = lambda args: print("handler ran", file=sys.stderr)
results = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = amips.cli.main(argv)
    results.append({"code": code, "err": err.getvalue().strip().splitlines(),
                    "heavy": sorted(m for m in ("torch", "faiss") if m in sys.modules)})
print(json.dumps(results))
"""


def probe(*argvs: list, fake_handlers: bool = False) -> list[dict]:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps([[str(a) for a in argv] for argv in argvs]),
                           "fake" if fake_handlers else "real"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("preflight")
    rng = np.random.default_rng(0)
    paths = {"root": root, "keys": root / "keys.npy", "queries": root / "queries.npy", "q6": root / "q6.npy",
             "q3d": root / "q3d.npy", "data": root / "data", "model": root / "model.pt", "run": root / "run"}
    np.save(paths["keys"], rng.standard_normal((200, 8)).astype(np.float32))
    np.save(paths["queries"], rng.standard_normal((100, 8)).astype(np.float32))
    np.save(paths["q6"], rng.standard_normal((100, 6)).astype(np.float32))
    np.save(paths["q3d"], rng.standard_normal((10, 10, 8)).astype(np.float32))
    paths["data"].mkdir()
    np.save(paths["data"] / "keys.npy", rng.standard_normal((200, 8)).astype(np.float32))
    paths["model"].write_bytes(b"not read by the preflight")
    paths["run"].mkdir()
    (paths["run"] / "model.pt").write_bytes(b"not read either")
    (root / "file.txt").write_text("a file, not a folder")
    return paths


def _fit(f: dict[str, Path], keys: object = None, queries: object = None, *extra: object) -> list:
    return ["fit", "--keys", keys or f["keys"], "--queries", queries or f["queries"], "--out", f["root"] / "m.pt",
            *extra]


def test_bad_files_are_one_line_errors_before_torch_is_imported(files):
    f = files
    cases = [  # argv, fragments of the error line
        (_fit(f, keys=f["root"] / "missing.npy"), ["amips: error: keys file not found: ", "missing.npy"]),
        (_fit(f, queries=f["q3d"]), ["queries (", "q3d.npy", "must be 2-D [n, d], got shape (10, 10, 8)"]),
        (_fit(f, queries=f["q6"]), ["queries (", "q6.npy", "has dimension 6 but the keys have dimension 8"]),
        (_fit(f, None, None, "--val-queries", f["q6"]), ["--val-queries (", "has dimension 6 but the keys have"]),
        (_fit(f, keys=f["data"]), ["keys path is a directory, expected a .npy file", str(f["data"])]),
        (["labels", "--data", f["keys"], "--out", f["root"] / "lab"],
         [f"{f['keys']} is a file, but a dataset folder is expected here"]),
        (["train", "--data", f["data"], "--labels", f["root"] / "nolabels", "--out", f["root"] / "r"],
         ["labels folder not found", "nolabels"]),
        (["search", "--model", f["root"] / "none.pt", "--keys", f["keys"], "--queries", f["queries"],
          "--out", f["root"] / "r.npz"], ["model file not found", "none.pt"]),
        (["evaluate", "--model", f["data"], "--keys", f["keys"], "--queries", f["queries"]],
         ["model path", "is a directory without model.pt"]),
        (["search", "--model", f["model"], "--keys", f["keys"], "--queries", f["queries"],
          "--out", f["root"] / "file.txt" / "r.npz"], ["cannot write", "file.txt exists and is not a directory"]),
        (["search", "--model", f["model"], "--keys", f["keys"], "--queries", f["queries"], "--k", 500,
          "--out", f["root"] / "r.npz"], [f"--k 500 exceeds the 200 keys in --keys {f['keys']}"]),
        (["evaluate", "--model", f["model"], "--data", f["data"], "--queries", f["q6"]],
         ["has dimension 6 but the keys have dimension 8"]),
        (["predict", "--model", f["run"], "--queries", f["q3d"], "--out", f["root"] / "p.npy"], ["2-D"]),
    ]
    for (argv, fragments), result in zip(cases, probe(*(argv for argv, _ in cases))):
        assert result["code"] == 2, (argv, result)
        assert len(result["err"]) == 1 and result["err"][0].startswith("amips: error: "), (argv, result)
        for fragment in fragments:
            assert fragment in result["err"][0], (argv, result["err"][0])
        assert result["heavy"] == [], f"{argv}: imported {result['heavy']} before the error"


def test_the_first_line_names_the_inputs_before_torch(files):
    f = files
    fit, quiet, train, generate = probe(
        _fit(f), [*_fit(f), "--quiet"],
        ["train", "--data", f["data"], "--labels", f["data"], "--out", f["root"] / "r", "--model", "supportnet"],
        ["generate", "--out", f["root"] / "gen"], fake_handlers=True)
    assert fit["code"] == 0 and fit["heavy"] == [] and fit["err"][-1] == "handler ran"
    assert len(fit["err"]) == 2 and fit["err"][0].endswith(
        f" amips: fit: keys {f['keys']} [200, 8] float32, queries {f['queries']} [100, 8] float32; loading torch")
    assert quiet["err"] == ["handler ran"]
    assert train["err"][0].endswith(f"amips: train: data {f['data']} (keys [200, 8] float32), labels {f['data']}; "
                                    "loading torch")
    assert generate["err"] == ["handler ran"]  # no input: nothing to announce


def test_the_console_script_refuses_a_dimension_mismatch(files):
    done = subprocess.run([str(AMIPS), *map(str, _fit(files, queries=files["q6"]))], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == (f"amips: error: queries ({files['q6']}) has dimension 6 but the keys have "
                                   "dimension 8")


def test_no_first_line_once_torch_is_loaded(files, capsys, monkeypatch):
    """Run from Python with torch imported, a command starts at once: no 'loading torch' line."""
    monkeypatch.setitem(sys.modules, "torch", sys.modules.get("torch") or types.ModuleType("torch"))
    monkeypatch.setattr("amips.cli.fit.run", lambda args: None)
    assert main([str(a) for a in _fit(files)]) == 0
    assert capsys.readouterr().err == ""


def test_only_plain_path_options_are_checked():
    parser = build_parser()
    fit = parser.parse_args(["fit", "--keys", "k.npy", "--queries", "q.npy", "--out", "m.pt"])
    assert dict(fit.preflight.paths) == {"keys": "--keys", "queries": "--queries", "out": "--out",
                                         "val_queries": "--val-queries"}  # --model keynet is a choice
    search = parser.parse_args(["search", "--model", "m.pt", "--keys", "k.npy", "--queries", "q.npy", "--out", "r"])
    assert search.preflight.command == "search" and "model" in search.preflight.paths
    assert "index" not in search.preflight.paths and "ivf_index" not in fit.preflight.paths
    config = parser.parse_args(["check-config", "a.yaml"])
    assert dict(config.preflight.paths) == {}


def test_unset_options_are_skipped(files):
    """An option left unset (None: an optional --model, --val-queries, evaluate's --out) is not checked."""
    args = argparse.Namespace(preflight=preflight.Plan("search", {"model": "--model", "keys": "--keys",
                                                                  "queries": "--queries", "out": "--out"}),
                              model=None, keys=str(files["keys"]), queries=None, out=None, index="absent.idx")
    assert preflight.run(args) == [f"keys {files['keys']} [200, 8] float32"]


def test_run_directories_and_new_output_folders_pass(files):
    args = argparse.Namespace(preflight=preflight.Plan("evaluate", {"model": "--model", "out": "--out"}),
                              model=str(files["run"]), out=str(files["root"] / "new" / "deeper" / "e.json"))
    assert preflight.run(args) == [f"model {files['run']}"]


def test_errors_are_the_usual_types(files):
    plan = preflight.Plan("fit", {"keys": "--keys", "out": "--out"})
    with pytest.raises(InputError, match="keys file is not a .npy file"):
        preflight.run(argparse.Namespace(preflight=plan, keys=str(files["root"] / "file.txt"), out=None))
    with pytest.raises(OutputError, match="exists and is not a directory"):
        preflight.run(argparse.Namespace(preflight=plan, keys=None, out=str(files["root"] / "file.txt" / "a" / "b")))


@pytest.mark.parametrize("argv, message", [
    (["search", "--keys", "k.npy", "--queries", "q.npy", "--out", "r.npz", "--nprobe", "3"], "--nprobe needs --ivf"),
    (["search", "--keys", "k.npy", "--queries", "q.npy", "--out", "r.txt"], "must end in one of"),
    (["predict", "--model", "m.pt", "--queries", "q.npy", "--out", "p.txt"], "must end in .npy or .npz"),
])
def test_argument_errors_come_before_any_file_or_torch(argv, message):
    """Option mistakes are found from the arguments alone: the files named do not even exist (issue 28 item 9)."""
    code = ("import sys\nfrom amips.cli import main\n"
            f"rc = main({argv!r})\n"
            "assert 'torch' not in sys.modules, 'torch imported before an argument error'\nsys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_dataset_from_a_users_files_refuses_held_out_queries_of_another_dimension(tmp_path, capsys):
    """`amips dataset` checks the held-out file like the others, in one line naming it (issue 28 item 1)."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "k.npy", rng.standard_normal((50, 4)).astype(np.float32))
    np.save(tmp_path / "q.npy", rng.standard_normal((20, 4)).astype(np.float32))
    np.save(tmp_path / "h.npy", rng.standard_normal((5, 3)).astype(np.float32))
    code = main(["dataset", "--keys", str(tmp_path / "k.npy"), "--queries", str(tmp_path / "q.npy"),
                 "--held-out", str(tmp_path / "h.npy"), "--out", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert code == 2 and "--held-out" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "d" / "keys.npy").exists()
