"""The amips command line: --help, the pipeline stages and the user-data commands, and the docs' own-data walk-through
run verbatim."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from amips.cli import build_parser, main
from amips.data.sets import load_key_query_files
from amips.evaluation.evaluate import predict
from amips.exact.labels import exact_topk
from amips.models import load_model
from clitools import AMIPS, REPO, TINY_FIT, files_under, make_data, metrics_table, run, run_process
from docblocks import doc_block

COMMANDS = ("generate", "dataset", "text", "labels", "train", "evaluate", "fit", "search", "predict", "check-config")


def test_every_command_is_listed_and_has_help(capsys):
    top = run(capsys, "--help")
    assert top.code == 0 and all(name in top.out for name in COMMANDS)
    choices = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001 - the registered commands
    assert set(choices) == set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help(capsys, command):
    result = run(capsys, command, "--help")
    assert result.code == 0 and result.err == ""
    assert result.out.startswith(f"usage: amips {command}") and "--debug" in result.out


def test_console_script_is_installed():
    assert AMIPS.exists(), "reinstall the package (pip install -e .) to create the amips console script"
    result = run_process("fit", "--help")
    assert result.returncode == 0 and "usage: amips fit" in result.stdout


def test_pipeline_stages_round_trip(tmp_path, capsys):
    data, labels, runs = tmp_path / "data", tmp_path / "labels", tmp_path / "run"
    assert run(capsys, "generate", "--num-keys", 200, "--num-queries", 80, "--dim", 8, "--out", data).code == 0
    assert files_under(data) == {"keys.npy", "queries.npy", "meta.json", "manifest.json"}
    result = run(capsys, "labels", "--data", data, "--out", labels, "--noise-copies", 1, "--test-size", 0.25)
    assert result.code == 0 and "train" in result.out
    assert {"train_queries.npy", "test_targets.npy", "meta.json"} <= files_under(labels)
    result = run(capsys, "train", "--data", data, "--labels", labels, "--out", runs, "--model", "supportnet",
                 "--depth", 2, "--wx-inject", 2, "--width", 16, "--steps", 20, "--batch-size", 32, "--quiet")
    assert result.code == 0, result.err
    assert files_under(runs) == {"model.pt", "history.json"}  # checkpoint removed once done
    result = run(capsys, "evaluate", "--model", runs / "model.pt", "--data", data, "--labels", labels,
                 "--out", runs / "metrics.json")
    assert result.code == 0, result.err
    record = json.loads((runs / "metrics.json").read_text())
    assert 0 <= record["match_rate"] <= 1 and record["kind"] == "supportnet" and record["num_test_queries"] == 40
    table = metrics_table(result.out)
    assert float(table["match_rate"]) == pytest.approx(record["match_rate"], abs=1e-4)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A dataset and a KeyNet fitted on it with `amips fit`."""
    root = tmp_path_factory.mktemp("fit")
    data = make_data(root / "data")
    model = root / "model.pt"
    argv = ["fit", "--keys", data / "keys.npy", "--queries", data / "queries.npy", "--out", model, *TINY_FIT]
    assert main([str(a) for a in argv]) == 0
    return data, model


def test_fit_saves_model_with_its_settings(fitted):
    data, model = fitted
    payload = torch.load(model, map_location="cpu", weights_only=True)
    assert payload["spec"]["kind"] == "keynet" and payload["spec"]["width"] == 16
    assert payload["train_spec"]["steps"] == 30 and payload["label_config"]["noise_copies"] == 1
    assert payload["train_info"]["num_parameters"] > 0 and payload["data"]["num_queries"] == 100
    assert not model.with_name(model.name + ".ckpt").exists()


def test_search_returns_top_k_of_the_predicted_key(fitted, tmp_path, capsys):
    data, model = fitted
    keys_path, queries_path = data / "keys.npy", data / "queries.npy"
    out = tmp_path / "results.npz"
    result = run(capsys, "search", "--model", model, "--keys", keys_path, "--queries", queries_path, "--k", 5,
                 "--out", out)
    assert result.code == 0, result.err
    found = np.load(out)
    ds = load_key_query_files(keys_path, queries_path)
    pred_keys = predict(load_model(model, dim=8), ds.queries)[1][:, 0]
    np.testing.assert_array_equal(found["indices"], exact_topk(pred_keys, ds.keys, 5)[1])
    expected_scores = np.einsum("nd,nkd->nk", ds.queries, ds.keys[found["indices"]])
    np.testing.assert_allclose(found["scores"], expected_scores, rtol=1e-5, atol=1e-6)


def test_ivf_search_probing_every_list_equals_exhaustive(fitted, tmp_path, capsys):
    data, model = fitted
    common = ("--model", model, "--keys", data / "keys.npy", "--queries", data / "queries.npy", "--k", 3)
    assert run(capsys, "search", *common, "--out", tmp_path / "exact.npy").code == 0
    result = run(capsys, "search", *common, "--ivf", "--nlist", 8, "--nprobe", 8, "--rerank", "none",
                 "--out", tmp_path / "ivf.npy")
    assert result.code == 0 and "IVF" in result.out
    exact, ivf = np.load(tmp_path / "exact.npy"), np.load(tmp_path / "ivf.npy")
    assert ivf.shape == exact.shape == (100, 3)
    assert (ivf[:, 0] == exact[:, 0]).mean() > 0.99  # faiss may order exact float ties differently


def test_ivf_search_marks_missing_results(fitted, tmp_path, capsys):
    data, model = fitted
    out = tmp_path / "ivf.json"
    result = run(capsys, "search", "--model", model, "--keys", data / "keys.npy", "--queries", data / "queries.npy",
                 "--k", 100, "--ivf", "--nlist", 14, "--nprobe", 1, "--out", out)
    assert result.code == 0, result.err
    found = json.loads(out.read_text())
    indices, scores = np.array(found["indices"]), found["scores"]
    assert indices.shape == (100, 100) and (indices == -1).any()  # one list of ~14 keys cannot fill k = 100
    assert all((s is None) == (i == -1) for row_i, row_s in zip(indices, scores) for i, s in zip(row_i, row_s))


def test_evaluate_on_queries_prints_the_table(fitted, tmp_path, monkeypatch, capsys):
    data, model = fitted
    monkeypatch.chdir(tmp_path)
    result = run(capsys, "evaluate", "--model", model, "--keys", data / "keys.npy", "--queries", data / "queries.npy")
    assert result.code == 0, result.err
    assert result.out.startswith("scored: the TRAINING queries of")  # the fixture's model was fitted on them
    assert list(metrics_table(result.out))[0] == "match_rate"
    assert "num_test_queries  100" in result.out and "x, the query itself" in result.out
    assert files_under(tmp_path) == set()  # nothing written without --out


# ------------------------------------------------------------------------------- the README and docs, verbatim


def _shell_commands(code: str) -> list[list[str] | tuple[str, str, str]]:
    """Commands of a bash block: argument lists, or ('heredoc', file, text) for `cat > file <<'END' … END`."""
    lines = code.replace("\\\n", " ").splitlines()
    commands: list = []
    while lines:
        line = lines.pop(0)
        heredoc = re.match(r"cat > (\S+) <<'(\w+)'$", line.strip())
        if heredoc:
            end = lines.index(heredoc.group(2))
            commands.append(("heredoc", heredoc.group(1), "\n".join(lines[:end]) + "\n"))
            del lines[: end + 1]
        elif shlex.split(line, comments=True):
            commands.append(shlex.split(line, comments=True))
    return commands


def _run_doc_command(command, cwd: Path, capsys) -> None:
    if command[0] == "heredoc":
        (cwd / command[1]).write_text(command[2])
    elif command[0] == "amips":
        result = run(capsys, *command[1:])
        assert result.code == 0, f"{shlex.join(command)}\n{result.err}"
    elif command[0] == "snakemake":  # a dry run: the full sweep takes minutes
        snakemake = Path(sys.executable).with_name("snakemake")
        if not snakemake.exists():
            pytest.skip("snakemake not installed (pip install -e '.[workflow]')")
        argv = [str(snakemake), "--snakefile", str(REPO / "Snakefile"), *command[1:], "-n", "--cores", "1"]
        done = subprocess.run(argv, cwd=cwd, text=True, capture_output=True, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "results/mine/" in done.stdout
    else:
        raise AssertionError(f"the docs run a command this test does not know: {shlex.join(command)}")


def test_own_data_walkthrough_runs_as_written(tmp_path, monkeypatch, capsys):
    """README's "own-data" block and the user guide's, run verbatim; the printed numbers match what they show."""
    shown_evaluate = doc_block("own-data-evaluate-output").code  # what the user guide shows `evaluate` printing
    assert doc_block("own-data-fit-output").code.startswith("saved my_model.pt (keynet")
    shown = metrics_table(shown_evaluate)
    shown_ivf = {int(line.split()[0]): [float(v) for v in line.split()[1:4]]
                 for line in shown_evaluate.splitlines() if re.match(r"\s+\d+\s+[01]\.\d{4}\s", line)}
    # in the order a reader runs them: the README's ten lines, then the user guide's searches, Python and pipeline
    blocks = [doc_block("own-data"), doc_block("own-data-searches"), doc_block("own-data-python"),
              doc_block("own-data-stages"), doc_block("own-data-pipeline")]
    assert [block.language for block in blocks] == ["bash", "bash", "python", "bash", "bash"]
    monkeypatch.chdir(tmp_path)
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")  # the clone's default config, next to your data
    for block in blocks:
        if block.language == "python":
            exec(compile(block.code, block.where, "exec"), {})  # noqa: S102 - the docs' own snippet
            continue
        for command in _shell_commands(block.code):
            _run_doc_command(command, tmp_path, capsys)
    staged = json.loads((tmp_path / "my_stages/metrics.json").read_text())  # the stages from the user's own files
    assert 0 <= staged["match_rate"] <= 1 and (tmp_path / "my_stages/data/held_out_queries.npy").exists()
    metrics = json.loads((tmp_path / "my_metrics.json").read_text())
    assert metrics["match_rate"] == pytest.approx(float(shown["match_rate"]), abs=0.05)
    assert metrics["scored"] == "the queries of my_data/held_out_queries.npy"
    for row in metrics["baselines"]["ivf"]["rows"]:  # the IVF table the user guide shows, as measured here
        assert all(re.fullmatch(r"[A-Za-z0-9_@%]+", key) for key in row), row  # JSON keys a program can use
        expected = shown_ivf[row["nprobe"]]
        assert row["recall@1_query"] == pytest.approx(expected[0], abs=0.02)
        assert row["recall@1_probe_g_rank_x"] == pytest.approx(expected[1], abs=0.05)
    assert np.load(tmp_path / "results_ivf.npz")["indices"].shape == (500, 10)


def test_predict_writes_the_models_keys(fitted, tmp_path, capsys):
    data, model = fitted
    queries = np.load(data / "queries.npy")
    result = run(capsys, "predict", "--model", model, "--queries", data / "queries.npy", "--out", tmp_path / "k.npz")
    assert result.code == 0, result.err
    saved = np.load(tmp_path / "k.npz")
    scores, keys = predict(load_model(model), queries / np.linalg.norm(queries, axis=1, keepdims=True))
    np.testing.assert_array_equal(saved["keys"], keys[:, 0, :])
    np.testing.assert_array_equal(saved["scores"], scores[:, 0])
    assert run(capsys, "predict", "--model", model, "--queries", data / "queries.npy", "--out", tmp_path / "k.npy").code == 0
    assert np.load(tmp_path / "k.npy").shape == (len(queries), queries.shape[1])
    bad = run(capsys, "predict", "--model", model, "--queries", data / "queries.npy", "--out", tmp_path / "k.csv")
    assert bad.code == 2 and "must end in .npy or .npz" in bad.err and not (tmp_path / "k.csv").exists()


def test_cli_names_mirror_the_registries():
    from dataclasses import fields

    from amips.cli import choices as names
    from amips.data.sets import SYNTHETIC_SOURCES
    from amips.models.homogenize import HOMOGENIZATIONS, KINDS
    from amips.models.skipmlp import RECTIFIERS
    from amips.models.spec import ModelSpec
    from amips.training.retrieval import RETRIEVAL_TERMS
    from amips.training.routing_terms import ROUTING_TERMS
    from amips.training.selection import SELECTORS
    from amips.training.train import TrainSpec
    import amips.cli as cli

    assert names.MODEL_KINDS == KINDS and names.HOMOGENIZATIONS == HOMOGENIZATIONS
    from amips.evaluation.metrics import RANK_TIES, RECALL_1PCT

    assert names.RANK_TIES == RANK_TIES and names.RECALL_1PCT == RECALL_1PCT
    from amips.search import OUTPUT_SUFFIXES

    assert names.SEARCH_OUTPUTS == OUTPUT_SUFFIXES
    assert names.RECTIFIERS == RECTIFIERS and set(names.SELECTIONS) == set(SELECTORS)
    assert set(names.RETRIEVAL_TERMS) == set(RETRIEVAL_TERMS) and set(names.ROUTING_TERMS) == set(ROUTING_TERMS)
    assert set(cli.SYNTHETIC_SOURCES) == set(SYNTHETIC_SOURCES)
    for cls, defaults in ((ModelSpec, names.MODEL_DEFAULTS), (TrainSpec, names.TRAIN_DEFAULTS)):
        declared = {f.name: f.default for f in fields(cls)}
        assert {k: declared[k] for k in defaults} == defaults, cls.__name__
    from amips.core.schema import section

    labels = section("labels")
    assert {k: labels[k] for k in names.LABEL_DEFAULTS} == names.LABEL_DEFAULTS  # the schema's defaults


def test_help_does_not_import_torch():
    code = ("import sys, contextlib, io\nfrom amips.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    main(['fit', '--help'])\n"
            "assert 'torch' not in sys.modules and 'faiss' not in sys.modules, 'heavy import at --help'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_train_a_router_with_the_routing_term(tmp_path, capsys):
    """`amips labels --num-clusters C` + `amips train --routing oracle_ce`: a C-output router whose history holds the
    term; on single-output labels the term is refused in one line."""
    data, router_labels, mips_labels = tmp_path / "data", tmp_path / "router_labels", tmp_path / "mips_labels"
    assert run(capsys, "generate", "--num-keys", 200, "--num-queries", 80, "--dim", 8, "--out", data).code == 0
    assert run(capsys, "labels", "--data", data, "--out", router_labels, "--noise-copies", 1, "--test-size", 0.25,
               "--num-clusters", 3).code == 0
    assert run(capsys, "labels", "--data", data, "--out", mips_labels, "--noise-copies", 1, "--test-size", 0.25).code == 0
    argv = ["--data", data, "--model", "supportnet", "--depth", 2, "--width", 16, "--steps", 20, "--batch-size", 32,
            "--score-weight", 1, "--key-weight", 0, "--routing", "oracle_ce", "--routing-weight", 0.1, "--quiet"]
    result = run(capsys, "train", "--labels", router_labels, "--out", tmp_path / "router", *argv)
    assert result.code == 0, result.err
    history = json.loads((tmp_path / "router" / "history.json").read_text())
    assert "routing" in history["history"][-1]
    assert load_model(tmp_path / "router" / "model.pt", 8).num_outputs == 3
    refused = run(capsys, "train", "--labels", mips_labels, "--out", tmp_path / "mips", *argv)
    assert refused.code != 0 and "applies to multi-output models" in refused.err
    assert len(refused.err.strip().splitlines()) == 1
    usage = run(capsys, "train", "--labels", router_labels, "--out", tmp_path / "r2", "--data", data,
                "--routing-weight", 0.1)
    assert usage.code != 0 and "--routing-weight needs --routing oracle_ce" in usage.err


def test_run_directories_split_counts_and_files_for_folders(tmp_path, capsys):
    """`train --out` makes a run directory that `evaluate --model` accepts (and says which file it read); `labels`
    reports every split it writes; a file given where a folder is expected is named as such."""
    from clitools import TINY_MODEL, make_data, run

    data = make_data(tmp_path / "data")
    wrong = run(capsys, "labels", "--data", data / "keys.npy", "--out", tmp_path / "lab")
    assert wrong.code == 2 and "is a file, but a dataset folder is expected here" in wrong.err
    made = run(capsys, "labels", "--data", data, "--out", tmp_path / "lab", "--noise-copies", "1")
    assert made.code == 0 and "train" in made.out and "validation" in made.out and "test)" in made.out
    trained = run(capsys, "train", "--data", data, "--labels", tmp_path / "lab", "--out", tmp_path / "run.pt",
                  *TINY_MODEL, "--steps", "10", "--batch-size", "32", "--quiet")
    assert trained.code == 0 and (tmp_path / "run.pt" / "model.pt").is_file()
    scored = run(capsys, "evaluate", "--model", tmp_path / "run.pt", "--data", data, "--labels", tmp_path / "lab")
    assert scored.code == 0 and "match_rate" in scored.out
    assert "is a run directory" in scored.err and "model.pt" in scored.err


def test_fit_help_shows_the_values_its_preset_uses():
    """fit's defaults are the recommended preset's: --help says so, with the plain default beside (issue 28 item 5)."""
    from amips.training.presets import RECOMMENDED_LABELS, RECOMMENDED_MODEL, RECOMMENDED_TRAINING

    done = subprocess.run([str(Path(sys.executable).with_name("amips")), "fit", "--help"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "COLUMNS": "1000"})
    text = " ".join(done.stdout.split())
    for option, value in (("--depth", RECOMMENDED_MODEL["depth"]), ("--steps", RECOMMENDED_TRAINING["steps"]),
                          ("--patience", RECOMMENDED_TRAINING["patience"]),
                          ("--noise-copies", RECOMMENDED_LABELS["noise_copies"]),
                          ("--parameters-fraction", RECOMMENDED_MODEL["parameters_fraction"])):
        line = text.split(f" {option} ", 1)[1].split(" -- ", 1)[0].split("none:", 1)[0] + "none:"
        assert f"(default: {value:g}, from --preset recommended; --preset none:" in line, (option, line)
    assert "(default: 8, from" not in text and "(default: 2000)" not in text
