"""Run names (amips.pipeline.run_names) and publishing a run (amips.pipeline.provenance.publish_run): a config on
other datasets cannot reuse a run's name, and a plain run never writes the tracked paper_figures/."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from amips.data.io import InputError
from amips.pipeline.provenance import publish_run
from amips.pipeline.run_names import check_run_name, read_record, record_run, run_datasets, run_time
from docblocks import doc_block

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "config" / "config.yaml"
MESSAGE = ("run name 'quick' already holds the results of another configuration (datasets: structured); set "
           "`name:` in your config (e.g. name: mine) or delete results/figures/quick")


def _quick() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def _own_data(config: dict) -> dict:
    """The user guide's own-data template merged on config.yaml, with the name of config.yaml left in."""
    code = doc_block("own-data-pipeline").code  # cat > my_embeddings.yaml <<'YAML' … YAML
    template = yaml.safe_load(code.split("<<'YAML'\n", 1)[1].split("\nYAML\n", 1)[0])
    assert template["datasets"]["mine"]["source"] == "npy" and template["name"] == "mine"
    config["datasets"].update(template["datasets"])
    config["sweep"].update(template["sweep"])
    return config


def test_a_config_on_other_datasets_under_a_used_name_is_refused(tmp_path):
    record_run(_quick(), ["config.yaml"], root=tmp_path)
    assert read_record("quick", tmp_path)["datasets"] == ["structured"]
    with pytest.raises(InputError) as caught:
        check_run_name(_own_data(_quick()), root=tmp_path)
    assert str(caught.value) == MESSAGE


def test_other_seeds_steps_or_models_on_the_same_datasets_are_the_same_run(tmp_path):
    record_run(_quick(), root=tmp_path)
    config = _quick()
    config["sweep"]["seeds"] = [7]
    config["training"]["steps"] = 10
    config["sweep"]["models"] = config["sweep"]["models"][:1]
    check_run_name(config, root=tmp_path)
    own = _own_data(_quick())
    own["name"] = "mine"
    check_run_name(own, root=tmp_path)  # its own name: no record yet
    check_run_name(_own_data(_quick()), root=tmp_path / "elsewhere")  # another working directory


def test_run_datasets_cover_every_block_and_experiment():
    config = _quick()
    config["extra_sweeps"] = [{**config["sweep"], "datasets": ["b"]}]
    config["experiments"]["router"] = {"enabled": True, "datasets": ["a"]}
    config["experiments"]["data_scaling"] = {"enabled": True, "datasets": ["c"]}
    assert run_datasets(config) == ["a", "b", "c", "structured"]


def test_run_time_is_read_from_the_record(tmp_path):
    assert run_time("quick", tmp_path) is None
    record_run(_quick(), root=tmp_path)
    started = dt.datetime.fromisoformat(read_record("quick", tmp_path)["started"])
    timed = run_time("quick", tmp_path, now=started + dt.timedelta(seconds=354))
    assert timed == {"started": started.isoformat(timespec="seconds"), "seconds": 354}


def test_publish_copies_the_run_and_removes_only_what_it_no_longer_makes(tmp_path):
    run = tmp_path / "results" / "figures" / "quick"
    run.mkdir(parents=True)
    (run / "match_rate.png").write_bytes(b"png")
    (run / "match_rate.csv").write_text("a\n1\n")
    (run / "provenance.yaml").write_text(yaml.safe_dump({"date": "d", "run": {"seconds": 354}}))
    tables = tmp_path / "results" / "tables" / "quick"
    tables.mkdir(parents=True)
    (tables / "summary.md").write_text("| t |\n")
    dest = tmp_path / "paper_figures" / "quick"
    dest.mkdir(parents=True)
    for name in ("README.md", "compression.png", "match_rate.png"):
        (dest / name).write_text("old")
    (dest / "notes").mkdir()
    files = [run / "provenance.yaml", run / "match_rate.png", run / "match_rate.csv", tables / "summary.md"]
    done = publish_run(files, dest)
    assert done == {"copied": ["match_rate.csv", "match_rate.png", "summary.md", "provenance.yaml"],
                    "removed": ["compression.png"]}
    assert (dest / "match_rate.png").read_bytes() == b"png" and (dest / "summary.md").read_text() == "| t |\n"
    assert (dest / "README.md").read_text() == "old" and (dest / "notes").is_dir()
    assert not (dest / "compression.png").exists()
    provenance = yaml.safe_load((dest / "provenance.yaml").read_text())
    assert provenance["run"] == {"seconds": 354} and provenance["published"]["files"] == sorted(
        ["match_rate.csv", "match_rate.png", "summary.md", "provenance.yaml"])
    with pytest.raises(InputError, match="cannot publish both"):
        publish_run([run / "match_rate.csv", tables / "match_rate.csv"], dest)


def _dry_run(tmp_path: Path, config: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    return subprocess.run([snakemake, "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
                           "--configfile", str(path), "-n", "--cores", "1"], cwd=REPO, text=True,
                          capture_output=True, timeout=300)


def test_the_workflow_stops_before_any_job_with_one_line(tmp_path):
    config = yaml.safe_load(TINY.read_text())
    record = {**config, "sweep": {**config["sweep"], "datasets": ["structured"]}, "extra_sweeps": [],
              "experiments": {}}
    record_run(record, root=tmp_path)
    out = _dry_run(tmp_path, config)
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines() if line.startswith("amips: error:")]
    assert lines == ["amips: error: run name 'tiny' already holds the results of another configuration (datasets: "
                     "structured); set `name:` in your config (e.g. name: tiny-2) or delete results/figures/tiny"]
    assert "rule " not in out.stdout
    config["name"] = "tiny-2"
    assert _dry_run(tmp_path, config).returncode == 0


def test_adding_datasets_extends_the_run_and_dropping_one_is_another_configuration(tmp_path):
    record_run(_quick(), root=tmp_path)
    more = _quick()
    more["datasets"]["extra"] = {"source": "gaussian", "num_keys": 100, "num_queries": 50, "dim": 8, "seed": 0}
    more.setdefault("extra_sweeps", []).append({**more["sweep"], "datasets": ["extra"]})
    check_run_name(more, root=tmp_path)  # structured is still there: the same run, one more dataset
    with pytest.raises(InputError, match="another configuration"):
        check_run_name(_own_data(_quick()), root=tmp_path)  # structured left out


def test_check_config_refuses_what_snakemake_would_refuse(tmp_path):
    """check-config runs the run-name check against the runs recorded where it runs (issue 28 item 4)."""
    from amips.pipeline.config import check_config

    record_run(_quick(), root=tmp_path)
    other = _quick()
    other["datasets"] = {"renamed": other["datasets"]["structured"]}
    for block in (other["sweep"], *other.get("extra_sweeps", []), *(
            [other["experiments"]["data_scaling"]] if "datasets" in other["experiments"].get("data_scaling", {})
            else [])):
        block["datasets"] = ["renamed"]
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(other))
    with pytest.raises(InputError, match="run name 'quick' already holds the results of another configuration"):
        check_config([path], root=tmp_path)
    assert check_config([path], root=tmp_path / "elsewhere")  # no run recorded there
