"""The Snakemake workflow: dry-run of the default config, a tiny end-to-end run, the report, config validation."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TINY = REPO / "tests" / "config" / "config.yaml"


def snakemake(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), *args], cwd=cwd, text=True,
                          capture_output=True, timeout=timeout)


@pytest.mark.parametrize("config", ["config.yaml", "config/medium.yaml", "config/paper.yaml"])
def test_shipped_configs_validate_and_dry_run(tmp_path, config):
    out = snakemake("--directory", str(tmp_path), "--configfile", str(REPO / config), "-n", "--cores", "2",
                    cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    for rule in ("train", "evaluate", "aggregate", "ivf_projected", "router_learned", "controls", "ivf_controls"):
        assert rule in out.stdout, rule


def test_homogenization_config_dry_runs_with_its_skips(tmp_path):
    out = snakemake("--directory", str(tmp_path), "--configfile", str(REPO / "config/homogenization.yaml"), "-n",
                    "--cores", "1", cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    for rule in ("embed", "key_coverage", "plot_homogenization", "train"):
        assert rule in out.stdout, rule
    assert "ivf_projected" not in out.stdout
    skips = [line for line in out.stderr.splitlines() if line.startswith("amips: skipped:")]
    assert len(skips) == 4 and sum("no-op" in line for line in skips) == 1


@pytest.mark.workflow
@pytest.mark.slow
def test_tiny_config_runs_end_to_end_and_reports(tmp_path):
    out = snakemake("--directory", str(tmp_path), "--configfile", str(TINY), "--cores", "2", cwd=REPO)
    assert out.returncode == 0, out.stderr[-5000:]
    tables = tmp_path / "results/tables/tiny"
    summary = pd.read_csv(tables / "summary.csv")
    config = yaml.safe_load(TINY.read_text())
    sweep = config["sweep"]
    controls = summary[summary["kind"] == "control"]
    assert sorted(controls["model"]) == ["control: blend", "control: identity", "control: ridge", "control: scalar"]
    identity = controls[controls["model"] == "control: identity"].iloc[0]
    assert identity["match_rate_mean"] == 1.0 and identity["key_error_rn2_mean"] == 1.0
    assert "control: ridge" in (tables / "summary.md").read_text()
    mips = summary[(summary["task"] == "mips") & (summary["kind"] != "control")]
    # supportnet × 3 wrappers; keynet: only none (radial = none on unit-norm queries, homogeneous_icnn n/a)
    assert sweep["homogenizations"] == ["none", "radial", "homogeneous_icnn"]
    assert len(mips) == 3 + 1 + len(config["extra_sweeps"])
    assert set(mips[mips["model"] == "keynet"]["homogenization"]) == {"none", "radial"}  # radial: extra sweep only
    assert "amips: skipped: dataset 'tiny' model 'keynet' homogenization 'radial'" in out.stderr
    assert (mips["n_seeds"] == len(sweep["seeds"])).all()
    router = summary[summary["task"] == "router"]
    assert len(router) == 1 and router["routing_accuracy_mean"].between(0, 1).all()
    ivf = pd.read_csv(tables / "ivf.csv")
    assert {"ivf natural", "exact", "hnsw"} <= set(ivf["method"])
    assert any(m.startswith("ivf supportnet") for m in ivf["method"])
    assert {"ivf control: ridge", "ivf control: blend"} <= set(ivf["method"])
    natural = ivf[ivf["method"] == "ivf natural"].sort_values("nprobe")
    assert natural["recall@1_mean"].iloc[-1] == 1.0  # probing every list is exact
    assert "At equal FLOPs" in (tables / "ivf.md").read_text()
    routing = pd.read_csv(tables / "router.csv")
    assert {"centroid routing", "supportnet_router router (radial)"} <= set(routing["method"])
    assert summary["match_rate_mean"].between(0, 1).all() and summary["mrr_mean"].gt(0).all()
    runs = pd.read_csv(tmp_path / "results/tables/tiny/runs.csv")
    runs = runs[runs["kind"] != "control"]
    assert set(runs["seed"]) == set(sweep["seeds"]) and runs["num_parameters"].gt(0).all()
    assert "±" in (tmp_path / "results/tables/tiny/summary.md").read_text()
    provenance = yaml.safe_load((tmp_path / "results" / "figures" / config["name"] / "provenance.yaml").read_text())
    assert provenance["config"]["name"] == config["name"] and "commit" in provenance["git"]
    assert provenance["run"]["seconds"] >= 0  # the invocation's run time, up to the last job
    assert not (tmp_path / "paper_figures").exists()  # a run writes only under results/; publishing is separate
    assert set(provenance["figures"]) == {"match_rate.png", "compression.png", "ivf.png", "router.png",
                                          "learning_curves.png", "ivf_hybrid.png", "ivf_routers.png",
                                          "breakeven.png", "data_scaling.png"}
    figures = tmp_path / "results" / "figures" / config["name"]
    hybrid = pd.read_csv(figures / "ivf_hybrid.csv")
    assert {"hnsw faiss", "hybrid supportnet (none)", "split 0.5 supportnet (none)"} <= set(hybrid["method"])
    hybrid_rows = hybrid[hybrid["method"].str.startswith("hybrid ")]
    assert np.allclose(hybrid_rows["recall@1_mean"], hybrid_rows["routing_coverage_mean"])
    assert hybrid.loc[hybrid["method"] == "hnsw faiss", "flops_mean"].gt(0).all()
    routers = pd.read_csv(figures / "ivf_routers.csv")
    assert {"router ltr (linear, Vecchiato et al.)", "router keynet_router (none)", "router supportnet_router_ce (none)",
            "router residual (centroids + rank 4)", "router ellipsoid (rank 2, untrained)"} <= set(routers["method"])
    shared = json.loads((tmp_path / "results/tiny/list_router/list_targets.json").read_text())
    assert routers.loc[routers["method"] == "router keynet_router (none)", "label_seconds_mean"].iloc[0] == \
        pytest.approx(shared["label_seconds"])  # one labelling pass, shared by the routers trained on it
    assert routers.loc[routers["method"] != "exact", "nprobe"].max() == routers.loc[
        routers["method"] == "ivf natural", "nprobe"].max()  # one partition, one probe grid
    assert "Best method vs plain IVF at equal FLOPs" in (figures / "ivf_routers.md").read_text()
    breakeven = pd.read_csv(figures / "breakeven.csv")
    assert set(breakeven["baseline"]) == {"ivf natural", "hnsw faiss", "hnsw"} and "N* vs" in (figures / "breakeven.md").read_text()
    scaling = pd.read_csv(figures / "data_scaling.csv")
    scaling_cfg = config["experiments"]["data_scaling"]
    assert set(scaling["model"]) == {"keynet", "control: ridge", "control: blend", "plain IVF (query x)"}
    assert sorted(scaling["n_queries"].unique()) == scaling_cfg["train_queries"]
    assert {"match_rate_mean", "key_error_rn2_mean", "coverage@1_mean", "recall@1_at_0.1_mean"} <= set(scaling.columns)
    scaling_runs = pd.read_csv(figures / "data_scaling_runs.csv")
    keynet_rows = scaling_runs[scaling_runs["model"] == "keynet"].sort_values("n_queries")
    assert keynet_rows["train_rows"].tolist() == [n * 2 for n in scaling_cfg["train_queries"]]  # 1 noisy copy each
    assert "Data scaling" in (figures / "data_scaling.md").read_text()
    retrieval = json.loads((tmp_path / "results/tiny/mips/keynet_retrieval/none/frac0.5/seed0/history.json").read_text())
    assert "val_list_coverage" in retrieval["history"][-1] and "retrieval" in retrieval["history"][0]
    curves = pd.read_csv(tmp_path / "results" / "figures" / config["name"] / "learning_curves.csv")
    assert {"val_match_rate", "train_match_rate", "val_key_error_rn2", "selected"} <= set(curves.columns)
    per_run = curves.groupby(["task", "model", "homogenization", "parameters_fraction", "seed"])
    assert per_run.ngroups == len(runs) and (per_run["selected"].sum() == 1).all()  # best_val: one selected step
    best = per_run.apply(lambda r: r["val_match_rate"].max() - r.loc[r["selected"], "val_match_rate"].iloc[0])
    assert (best == 0).all()
    for figure in ("match_rate", "compression", "ivf", "router", "ivf_hybrid", "ivf_routers", "breakeven",
                   "data_scaling"):
        path = tmp_path / "results" / "figures" / config["name"] / f"{figure}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", figure
        assert len(pd.read_csv(path.with_suffix(".csv"))) > 0, figure  # the numbers behind every figure
    assert list((tmp_path / "results" / "benchmarks" / "train").rglob("*.tsv"))
    # nothing left to do, and the report builds
    again = snakemake("--directory", str(tmp_path), "--configfile", str(TINY), "--cores", "2", "-n", cwd=REPO)
    assert "Nothing to be done" in again.stdout + again.stderr
    report = snakemake("--directory", str(tmp_path), "--configfile", str(TINY), "--report",
                       str(tmp_path / "report.html"), cwd=REPO)
    assert report.returncode == 0, report.stderr[-3000:]
    assert (tmp_path / "report.html").stat().st_size > 10_000
    # `snakemake publish`: the run into paper_figures/<name>/, stale files of that folder removed, README.md kept
    published = tmp_path / "paper_figures" / config["name"]
    published.mkdir(parents=True)
    (published / "README.md").write_text("notes")
    (published / "gone.png").write_text("a figure the run no longer makes")
    done = snakemake("--directory", str(tmp_path), "--configfile", str(TINY), "--cores", "1", "publish", cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (published / "README.md").read_text() == "notes" and not (published / "gone.png").exists()
    assert (published / "ivf_hybrid.csv").read_bytes() == (figures / "ivf_hybrid.csv").read_bytes()
    assert (published / "summary.md").read_bytes() == (tables / "summary.md").read_bytes()
    assert (published / "ivf.csv").read_bytes() == (figures / "ivf.csv").read_bytes()  # the curves drawn
    record = yaml.safe_load((published / "provenance.yaml").read_text())
    assert record["run"] == provenance["run"] and record["git"] == provenance["git"]
    assert set(record["published"]["files"]) == {p.name for p in published.iterdir() if p.is_file()} - {"README.md"}


def _dry_run_with(tmp_path: Path, mutate) -> subprocess.CompletedProcess:
    config = yaml.safe_load(TINY.read_text())
    mutate(config)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return snakemake("--directory", str(tmp_path), "--configfile", str(path), "-n", "--cores", "1", cwd=REPO)


@pytest.mark.parametrize(
    "mutate,expected",
    [
        (lambda c: c["training"].update(stesp=3), "stesp"),
        (lambda c: c.update(trainig={}), "trainig"),
        (lambda c: c["training"].update(steps=0), "minimum"),
        (lambda c: c["training"].update(lr_peak=-1.0), "lr_peak"),
        (lambda c: c["models"]["keynet"].update(kind="transformer"), "transformer"),
        (lambda c: c["sweep"].update(homogenizations=["spherical"]), "spherical"),
        (lambda c: c["sweep"].update(models=["keynet", "nope"]), "nope"),
        (lambda c: c["sweep"].update(seeds=["a"]), "'a' is not of type 'integer'"),
        (lambda c: c["datasets"]["tiny"].update(source="npy"), "keys"),
    ],
)
def test_bad_config_is_rejected_with_the_key_named(tmp_path, mutate, expected):
    out = _dry_run_with(tmp_path, mutate)
    assert out.returncode != 0
    assert expected in out.stdout + out.stderr


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz not installed")
def test_rulegraph_renders():
    out = snakemake("--rulegraph", cwd=REPO)
    assert out.returncode == 0 and "train" in out.stdout


def test_lint_is_clean_on_the_default_config(tmp_path):
    out = snakemake("--directory", str(tmp_path), "--configfile", str(REPO / "config.yaml"), "--lint", cwd=REPO)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    assert "Lints for" not in text and "good condition" in text


@pytest.mark.workflow
def test_replacing_npy_embeddings_reruns_the_dataset_and_what_depends_on_it(tmp_path):
    rng = np.random.default_rng(0)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    np.save(inputs / "keys.npy", rng.standard_normal((60, 4)).astype(np.float32))
    np.save(inputs / "queries.npy", rng.standard_normal((40, 4)).astype(np.float32))
    config = yaml.safe_load(TINY.read_text())
    config["datasets"] = {"user": {"source": "npy", "keys": "inputs/keys.npy", "queries": "inputs/queries.npy"}}
    config["sweep"]["datasets"] = ["user"]
    config["extra_sweeps"] = []
    config["experiments"] = {}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    target = "results/user/labels/mips/meta.json"
    args = ("--directory", str(tmp_path), "--configfile", str(path), "--cores", "1")
    built = snakemake(*args, target, cwd=REPO)
    assert built.returncode == 0, built.stderr[-3000:]
    assert "Nothing to be done" in (lambda o: o.stdout + o.stderr)(snakemake(*args, "-n", target, cwd=REPO))
    time.sleep(1.1)  # a strictly newer modification time than the outputs, even on coarse-mtime filesystems
    np.save(inputs / "keys.npy", rng.standard_normal((60, 4)).astype(np.float32))
    again = snakemake(*args, "-n", target, cwd=REPO)
    text = again.stdout + again.stderr
    assert again.returncode == 0, text[-3000:]
    assert "rule make_dataset:" in text and "rule exact_labels:" in text
    assert "inputs/keys.npy" in text
