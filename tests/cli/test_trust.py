"""Results you can trust: a broken model never scores, stale state is never reused, every input is checked.

Each test here failed before the corresponding fix (the issue "Results you can trust"): broken models scored 1.0,
stale checkpoints were resumed silently, outputs could overwrite inputs, ``test_size: 1.5`` gave 2 test rows,
models were used with foreign keys, and the validation let through what a job tripped over later.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import amips.training.runs
from amips.data.augment import MIN_TEST_ROWS, split_rows
from amips.data.io import MARKER_DIR, atomic_save_npy, exclusive_lock, remove_stale_temporaries
from amips.index.ivf import build_ivf
from amips.index.sweeps import ivf_sweep
from amips.exact.labels import exact_topk
from amips.evaluation.metrics import evaluate_predictions, routing_metrics
from amips.models import ModelSpec, build_model, save_model
from amips.routing.clusters import routing_curve
from amips.search import search
from amips.pipeline.stages.labels import make_labels
from amips.pipeline.stages.train import train_run
from amips.training.train import TrainingDiverged, TrainSpec
from clitools import REPO, TINY_FIT, files_under, make_data, run

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


def _one_error_line(result) -> str:
    errors = [line for line in result.err.splitlines() if line.startswith("amips: error: ")]
    assert result.code == 2 and len(errors) == 1 and "Traceback" not in result.err, result.err
    return errors[0]


def _interrupt_after(monkeypatch, steps: int) -> None:
    """Make the next training stop (checkpointed) after ``steps`` steps, as a Ctrl-C would."""
    real = amips.training.runs.train_model

    def interrupted(*args, **kwargs):
        real(*args, **{**kwargs, "stop_after": steps})
        raise KeyboardInterrupt

    monkeypatch.setattr(amips.training.runs, "train_model", interrupted)


# ------------------------------------------------------------------------- 1. broken models never score


def test_non_finite_predictions_are_misses_in_every_metric(rng):
    keys = rng.standard_normal((50, 8)).astype(np.float32)
    keys /= np.linalg.norm(keys, axis=1, keepdims=True)  # unit keys: a target key is its own top-1
    queries = rng.standard_normal((20, 8)).astype(np.float32)
    targets = exact_topk(queries, keys, 1)[1]
    perfect = keys[targets[:, 0]][:, None, :].copy()
    scores = np.einsum("ncd,nd->nc", perfect, queries)
    assert evaluate_predictions(queries, keys, scores, perfect, targets)["match_rate"] == 1.0

    all_nan = evaluate_predictions(queries, keys, np.full_like(scores, np.nan), np.full_like(perfect, np.nan), targets)
    assert all_nan["match_rate"] == 0.0 and all_nan["recall@50"] == 0.0 and all_nan["recall@1%"] == 0.0
    assert all_nan["mrr"] == pytest.approx(1 / 51) and all_nan["non_finite_predictions"] == 20

    half = perfect.copy()
    half[::2, 0, 3] = np.inf
    metrics = evaluate_predictions(queries, keys, scores, half, targets)
    assert metrics["match_rate"] == 0.5 and metrics["non_finite_predictions"] == 10
    nan_scores = scores.copy()
    nan_scores[1] = np.nan  # a finite key with a NaN score is a broken prediction too
    assert evaluate_predictions(queries, keys, nan_scores, perfect, targets)["match_rate"] == 0.95


def test_router_metrics_count_nan_scores_as_misses():
    true_scores = np.array([[0.9, 0.1, 0.2], [0.1, 0.8, 0.0]])
    assert routing_metrics(true_scores, true_scores)["routing_accuracy"] == 1.0
    broken = np.array([[np.nan, np.nan, np.nan], [0.1, 0.8, 0.0]])
    assert routing_metrics(broken, true_scores)["routing_accuracy"] == 0.5
    rows = routing_curve(broken, true_scores, np.array([4, 4, 4]), dim=8, router_flops=0.0)
    assert [r["match_rate"] for r in rows] == [0.5, 0.5, 0.5]


def test_ivf_recall_counts_non_finite_queries_as_misses(rng):
    keys = rng.standard_normal((400, 8)).astype(np.float32)
    queries = rng.standard_normal((30, 8)).astype(np.float32)
    top1 = exact_topk(queries, keys, 1)[1][:, 0]
    ivf = build_ivf(keys, 8)
    broken = queries.copy()
    broken[:10] = np.nan
    row = ivf_sweep(ivf, broken, top1, [8], [1, 5])[0]
    assert row["recall@1"] == pytest.approx(20 / 30) and row["non_finite_queries"] == 10


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
    line = _one_error_line(evaluated)
    assert "bad.pt" in line and ("corrupt" in line or "non-finite" in line), line
    searched = run(capsys, "search", "--model", bad, "--keys", data / "keys.npy", "--queries", data / "queries.npy",
                   "--out", tmp_path / "r.npz")
    _one_error_line(searched)
    assert not (tmp_path / "r.npz").exists()


def test_search_refuses_non_finite_predicted_keys(fitted, monkeypatch):
    data, _ = fitted
    keys, queries = np.load(data / "keys.npy"), np.load(data / "queries.npy")
    model = build_model(ModelSpec(kind="keynet", depth=1, width=8), 8, 200)

    def nan_predict(*args, **kwargs):
        return np.zeros((len(queries), 1)), np.full((len(queries), 1, 8), np.nan, np.float32)

    monkeypatch.setattr("amips.search.predict", nan_predict)
    with pytest.raises(ValueError, match="non-finite keys for 100 of 100 queries"):
        search(model, keys, queries, 5)


def _diverging_schedule(monkeypatch):
    monkeypatch.setattr(TrainSpec, "lr_at", lambda self, step: 1e30)


def test_diverged_fit_fails_in_one_line_and_writes_no_model(fitted, tmp_path, capsys, monkeypatch):
    data, _ = fitted
    _diverging_schedule(monkeypatch)
    out = tmp_path / "out" / "model.pt"
    result = run(capsys, "fit", "--keys", data / "keys.npy", "--queries", data / "queries.npy", "--out", out,
                 *TINY_FIT)
    line = _one_error_line(result)
    assert f"training {out} diverged" in line and "no model written" in line
    assert not out.exists()


def test_diverged_pipeline_training_fails_the_job(tmp_path, monkeypatch):
    data = make_data(tmp_path / "data")
    make_labels(data, tmp_path / "labels", {"noise_copies": 1, "test_size": 0.25})
    _diverging_schedule(monkeypatch)
    with pytest.raises(TrainingDiverged):
        train_run(data / "keys.npy", tmp_path / "labels", tmp_path / "run", ModelSpec(kind="keynet", depth=2, width=8),
                  TrainSpec(steps=20, batch_size=32, lr_peak=1e-3), seed=0)
    assert not (tmp_path / "run" / "model.pt").exists()


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
        _interrupt_after(patch, 10)
        assert run(capsys, *_fit(data, out)).code == 130
    assert (tmp_path / "model.pt.ckpt").exists()
    extra: tuple = change if isinstance(change, tuple) else ()
    if change == "queries":
        atomic_save_npy(data / "queries.npy", np.load(data / "queries.npy")[::-1].copy())
    line = _one_error_line(run(capsys, *_fit(data, out, *extra)))
    assert field in line and "rerun with --restart" in line, line
    restarted = run(capsys, *_fit(data, out, *extra, "--restart"))
    assert restarted.code == 0 and "resumed" not in restarted.out, restarted.err
    assert not (tmp_path / "model.pt.ckpt").exists()


def test_fit_resumes_after_a_logging_change_and_says_it_replaces_the_model(tmp_path, capsys, monkeypatch):
    data = make_data(tmp_path / "data")
    out = tmp_path / "model.pt"
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 10)
        assert run(capsys, *_fit(data, out)).code == 130
    resumed = run(capsys, *_fit(data, out, "--log-every", "7", "--checkpoint-every", "3"))
    assert resumed.code == 0 and "resumed from step 10" in resumed.out, resumed.err
    again = run(capsys, *[a for a in _fit(data, out) if a != "--quiet"])
    assert again.code == 0 and f"{out} exists and will be replaced" in again.err


def test_pipeline_discards_a_stale_checkpoint_and_retrains(tmp_path, monkeypatch, caplog):
    data = make_data(tmp_path / "data")
    labels = tmp_path / "labels"
    make_labels(data, labels, {"noise_copies": 1, "test_size": 0.25, "seed": 0})
    spec, tspec = ModelSpec(kind="keynet", depth=2, width=8), TrainSpec(steps=20, batch_size=32, lr_peak=1e-3,
                                                                        checkpoint_every=5)
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 10)
        with pytest.raises(KeyboardInterrupt):
            train_run(data / "keys.npy", labels, tmp_path / "run", spec, tspec, seed=0)
    make_labels(data, labels, {"noise_copies": 1, "test_size": 0.25, "seed": 1})  # the labels changed
    with caplog.at_level("WARNING", logger="amips.training.train"):
        info = train_run(data / "keys.npy", labels, tmp_path / "run", spec, tspec, seed=0)
    assert info["resumed_from_step"] == 0 and "discarding" in caplog.text and "labels.seed differs" in caplog.text
    reference = train_run(data / "keys.npy", labels, tmp_path / "fresh", spec, tspec, seed=0)
    fresh, rerun = (torch.load(tmp_path / d / "model.pt", weights_only=True)["state_dict"] for d in ("fresh", "run"))
    assert reference["resumed_from_step"] == 0 and all(torch.equal(fresh[k], rerun[k]) for k in fresh)


def test_pipeline_survives_a_corrupt_checkpoint(tmp_path):
    data = make_data(tmp_path / "data")
    make_labels(data, tmp_path / "labels", {"noise_copies": 1, "test_size": 0.25})
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"PK\x03\x04 half a zip")
    info = train_run(data / "keys.npy", tmp_path / "labels", tmp_path / "run", ModelSpec(kind="keynet", depth=2, width=8),
                     TrainSpec(steps=10, batch_size=32, lr_peak=1e-3), seed=0)
    assert info["resumed_from_step"] == 0 and (tmp_path / "run" / "model.pt").exists()


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
    line = _one_error_line(run(capsys, *argv))
    assert "writing it would destroy the input" in line
    assert victim.read_bytes() == before


# ------------------------------------------------------------------------- 5. test_size


@pytest.mark.parametrize("test_size,message", [(1.5, "must be a fraction in (0, 1)"), (1.0, "must be a fraction"),
                                               (float("nan"), "must be a fraction"), (2, "need at least 10 test"),
                                               (1000, "at least one training row"), (True, "row count")])
def test_bad_test_sizes_are_rejected(test_size, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        split_rows(np.repeat(np.arange(100), 2), test_size)


def test_test_size_boundaries_are_accepted():
    source = np.repeat(np.arange(100), 2)
    assert split_rows(source, MIN_TEST_ROWS, by_source=False)[1].size == MIN_TEST_ROWS
    assert split_rows(source, 0.5)[1].size == 100


@pytest.mark.parametrize("value", ["1.5", "2", "0", "nan"])
def test_labels_cli_rejects_bad_test_sizes(fitted, tmp_path, capsys, value):
    data, _ = fitted
    _one_error_line(run(capsys, "labels", "--data", data, "--out", tmp_path / "labels", "--test-size", value))
    assert not (tmp_path / "labels").exists()


# ------------------------------------------------------------------------- 6. models and their keys


def test_a_model_is_refused_on_other_keys_unless_allowed(fitted, tmp_path, capsys):
    data, model = fitted
    other = tmp_path / "other_keys.npy"
    np.save(other, np.load(data / "keys.npy")[::-1].copy())
    queries = data / "queries.npy"
    line = _one_error_line(run(capsys, "evaluate", "--model", model, "--keys", other, "--queries", queries))
    assert "was trained on other keys" in line and "--allow-other-keys" in line
    _one_error_line(run(capsys, "search", "--model", model, "--keys", other, "--queries", queries,
                        "--out", tmp_path / "r.npz"))
    allowed = run(capsys, "search", "--model", model, "--keys", other, "--queries", queries, "--out",
                  tmp_path / "r.npz", "--allow-other-keys")
    assert allowed.code == 0 and "trained on other keys" in allowed.err


# ------------------------------------------------------------------------- validation everywhere

BASE = {
    "datasets": {"syn": {"source": "structured", "num_keys": 300, "num_queries": 100, "dim": 8,
                         "options": {"num_clusters": 4, "intrinsic_dim": 3}}},
    "labels": {"noise_copies": 1, "test_size": 0.25},
    "models": {"keynet": {"kind": "keynet", "depth": 2}},
    "training": {"steps": 10, "batch_size": 16, "lr_peak": 0.001},
    "sweep": {"datasets": ["syn"], "models": ["keynet"], "seeds": [0]},
    "experiments": {"ivf": {"enabled": True}, "router": {"enabled": True, "num_clusters": 4, "models": ["keynet"]}},
}


def _set(path: str, value):
    def mutate(config: dict) -> None:
        node = config
        *parents, last = path.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    return mutate


CONFIG_CASES = [
    ("undefined-dataset", _set("sweep.datasets", ["syn", "nope"]), "sweep.datasets names 'nope'"),
    ("undefined-router-model", _set("experiments.router.models", ["ghost"]), "experiments.router.models names 'ghost'"),
    ("misspelled-override", _set("models.keynet.training", {"stesp": 3}), "models.keynet.training: unknown training"),
    ("bad-override-value", _set("models.keynet.training", {"lr_peak": -1.0}), "models.keynet.training: learning rate"),
    ("clusters-above-keys", _set("experiments.router.num_clusters", 301), "num_clusters=301 exceeds the 300 keys"),
    ("nlist-above-keys", _set("experiments.ivf.nlist", 500), "experiments.ivf.nlist=500 exceeds the 300 keys"),
    ("float-steps", _set("training.steps", 300.0), "training: steps must be an integer, got 300.0"),
    ("batch-above-rows", _set("training.batch_size", 10000), "batch_size=10000 (model 'keynet') exceeds the 134 training"),
    ("unknown-option", _set("datasets.syn.options", {"num_cluster": 4}), "unknown option(s) ['num_cluster']"),
    ("bad-option-value", _set("datasets.syn.options", {"num_clusters": 0}), "datasets.syn.options: num_clusters"),
    ("negative-seed", _set("sweep.seeds", [-1]), "sweep.seeds.0"),
    ("negative-dataset-seed", _set("datasets.syn.seed", -3), "datasets.syn.seed"),
    ("test-size-1.5", _set("labels.test_size", 1.5), "labels.test_size"),
    ("huge-lr", _set("training.lr_peak", 1e6), "training.lr_peak"),
    ("bad-model-spec", _set("models.keynet.depth", 2.5), "models.keynet"),
    ("retrieval-in-a-router", _set("models.keynet.training", {"retrieval": {"name": "list_ce"}}),
     "experiments.router.models: ['keynet'] train with training.retrieval"),
    ("unknown-retrieval-term", _set("models.keynet.training", {"retrieval": {"name": "listwise"}}),
     "unknown training.retrieval.name 'listwise'"),
    ("ellipsoid-rank-above-dim", _set("experiments.list_router", {"enabled": True, "ellipsoid": {"enabled": True,
                                                                                             "rank": 8}}),
     "list_router.ellipsoid.rank=8 must be below the dimension 8 of dataset 'syn'"),
    ("routing-in-a-mips-sweep", _set("models.keynet.training", {"routing": {"name": "oracle_ce"}}),
     "sweep.models: ['keynet'] train with training.routing, which applies to routers"),
    ("unknown-routing-term", _set("models.keynet.training", {"routing": {"name": "listwise"}}),
     "unknown training.routing.name 'listwise'"),
    ("bad-routing-temperature", _set("models.keynet.training", {"routing": {"name": "oracle_ce", "temperature": 0}}),
     "training.routing.temperature must be a finite number > 0, got 0"),
    ("scaling-above-queries", _set("experiments.data_scaling", {"enabled": True, "datasets": ["syn"],
                                                                "models": ["keynet"], "train_queries": [10, 500]}),
     "train_queries [500] exceed the 67 distinct training queries"),
    ("scaling-undefined-model", _set("experiments.data_scaling", {"enabled": True, "datasets": ["syn"],
                                                                  "models": ["ghost"], "train_queries": [10]}),
     "experiments.data_scaling.models: ['ghost'] are not defined"),
    ("scaling-batch-above-subset", _set("experiments.data_scaling", {"enabled": True, "datasets": ["syn"],
                                                                     "models": ["keynet"], "train_queries": [5]}),
     "batch_size=16 (model 'keynet') exceeds the 10 training rows of the smallest subset"),
]


@pytest.mark.parametrize("mutate,expected", [pytest.param(m, e, id=i) for i, m, e in CONFIG_CASES])
def test_check_config_catches_what_a_job_would_trip_over(tmp_path, capsys, mutate, expected):
    config = json.loads(json.dumps(BASE))
    mutate(config)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    line = _one_error_line(run(capsys, "check-config", path))
    assert expected in line, line


def test_check_config_accepts_the_base_case_and_rejects_duplicate_yaml_keys(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(BASE))
    assert run(capsys, "check-config", path).code == 0
    path.write_text("name: a\nname: b\n" + yaml.safe_dump(BASE))
    assert "duplicate key 'name'" in _one_error_line(run(capsys, "check-config", path))


def test_snakemake_fails_before_any_job_on_a_semantic_error(tmp_path):
    config = json.loads(json.dumps(BASE))
    config["models"]["keynet"]["training"] = {"stesp": 3}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    snakemake = Path(os.environ.get("VIRTUAL_ENV", Path(os.sys.executable).parent.parent)) / "bin" / "snakemake"
    done = subprocess.run([str(snakemake), "-n", "--cores", "1", "--configfile", str(path), "--directory",
                           str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "models.keynet.training: unknown training" in done.stdout + done.stderr


@pytest.mark.parametrize("argv,expected", [
    (["--ivf", "--nprobe", "500"], "--nprobe 500 exceeds the index's 14 lists (--nlist default: floor(sqrt(m)))"),
    (["--ivf", "--nlist", "4", "--nprobe", "5"], "--nprobe 5 exceeds the index's 4 lists"),
])
def test_search_refuses_values_a_library_would_clamp(fitted, tmp_path, capsys, argv, expected):
    data, model = fitted
    line = _one_error_line(run(capsys, "search", "--model", model, "--keys", data / "keys.npy", "--queries",
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
    line = _one_error_line(run(capsys, "fit", "--keys", data / "keys.npy", "--queries", data / "queries.npy",
                               "--out", out / "m.pt", *tiny, *argv))
    assert expected in line and files_under(out) == set()


def test_sizes_that_cannot_fit_fail_fast_with_the_estimate(tmp_path, capsys):
    line = _one_error_line(run(capsys, "generate", "--num-keys", 10**12, "--dim", 384, "--out", tmp_path / "d"))
    assert "needs about" in line and "is available" in line and not (tmp_path / "d").exists()


# ------------------------------------------------------------------------- interruption leftovers


def test_temporary_files_of_killed_writers_are_removed_by_the_next_write(tmp_path):
    target = tmp_path / "keys.npy"
    code = ("import os, sys; from amips.data.io import atomic_path\n"
            f"with atomic_path({str(target)!r}, suffix='.tmp.npy') as tmp:\n"
            "    tmp.write_bytes(b'half')\n    os._exit(9)\n")
    subprocess.run([os.sys.executable, "-c", code], check=False)
    debris = [p for p in tmp_path.iterdir() if p.name.startswith(".keys.npy.")]
    assert len(debris) == 1 and not target.exists()
    live = tmp_path / f".keys.npy.{socket.gethostname().replace('.', '_')}-{os.getpid()}.x1.tmp.npy"
    live.write_bytes(b"in progress")  # a writer that is still running
    atomic_save_npy(target, np.zeros(3))
    remaining = sorted(p.name for p in tmp_path.iterdir() if p.name != MARKER_DIR)
    assert remaining == sorted(["keys.npy", live.name])  # the dead writer's file is gone, a live one is kept
    assert remove_stale_temporaries(target) == []


def test_a_second_fit_on_the_same_output_is_refused(fitted, tmp_path, capsys):
    data, _ = fitted
    out = tmp_path / "model.pt"
    with exclusive_lock(out, "amips fit"):
        line = _one_error_line(run(capsys, "fit", "--keys", data / "keys.npy", "--queries", data / "queries.npy",
                                   "--out", out, *TINY_FIT))
        assert f"is being written by another amips fit (pid {os.getpid()})" in line
    assert run(capsys, "fit", "--keys", data / "keys.npy", "--queries", data / "queries.npy", "--out", out,
               *TINY_FIT).code == 0
    assert files_under(tmp_path) == {"model.pt"}  # no lock file, no checkpoint left behind


def test_the_default_config_checkpoints():
    training = yaml.safe_load((REPO / "config.yaml").read_text())["training"]
    assert 0 < training["checkpoint_every"] < training["steps"]


def test_ivf_coverage_is_the_natural_recall_and_the_hybrid_ceiling(rng):
    keys = rng.standard_normal((500, 8)).astype(np.float32)
    queries = rng.standard_normal((60, 8)).astype(np.float32)
    top1 = exact_topk(queries, keys, 1)[1][:, 0]
    ivf = build_ivf(keys, 10)
    assert (ivf.key_list >= 0).all() and np.bincount(ivf.key_list, minlength=10).tolist() == ivf.list_sizes.tolist()
    for row in ivf_sweep(ivf, queries, top1, [1, 2, 5, 10], [1]):
        assert row["routing_coverage"] == row["recall@1"]  # natural query: found iff its list is probed
    other = queries + rng.standard_normal(queries.shape).astype(np.float32)
    rows = ivf_sweep(ivf, other, top1, [3], [1])
    probed = ivf.index.quantizer.search(other, 3)[1]
    assert rows[0]["routing_coverage"] == np.mean([ivf.key_list[t] in p for t, p in zip(top1, probed)])
