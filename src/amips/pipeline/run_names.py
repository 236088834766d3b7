"""Run names: which configuration the outputs of a run name hold, so that two configurations cannot share one.

A run writes its tables to ``results/tables/<name>/`` and its figures, their CSVs and ``provenance.yaml`` to
``results/figures/<name>/`` (``snakemake publish`` copies a finished run to the tracked ``paper_figures/<name>/``).
Rerunning a config, or changing its seeds, steps, models or experiments, updates those folders: that is the same
run. A config that keeps the name but runs on other datasets (the own-data template merged on ``config.yaml`` with
``name: quick`` left in) would overwrite the default run's tables and figures with its own, so the workflow records
the run when it starts (:func:`record_run`, ``results/figures/<name>/run_config.yaml``: the datasets, a digest of
the config, the config files and the start time) and refuses, before any job, a config whose datasets differ from
the record (:func:`check_run_name`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

import yaml

from amips.data.io import InputError, atomic_write_text
from amips.data.state_files import read_state_text
from amips.core.schema import with_defaults
from amips.pipeline.sweeps import sweep_blocks

FIGURES_ROOT = Path("results") / "figures"
RECORD = "run_config.yaml"


def figures_dir(name: str, root: str | Path = ".") -> Path:
    """``results/figures/<name>/`` under ``root`` (the workflow's working directory)."""
    return Path(root) / FIGURES_ROOT / name


def run_datasets(config: dict[str, Any]) -> list[str]:
    """The datasets a run's tables and figures are made of: those of every sweep block (``sweep``,
    ``extra_sweeps``, the router experiment's) and those an enabled experiment names (``datasets: [...]``, e.g.
    data scaling, or ``dataset:``, the convex diagnostics)."""
    config = with_defaults(config, validate=False)
    names = {d for blocks in sweep_blocks(config).values() for block in blocks for d in block["datasets"]}
    for block in config["experiments"].values():
        if block["enabled"]:
            names.update(block.get("datasets", []) if isinstance(block.get("datasets"), list) else [])
            names.update([block["dataset"]] if isinstance(block.get("dataset"), str) else [])
    return sorted(map(str, names))


def config_digest(config: dict[str, Any]) -> str:
    """A short digest of everything in the config but its name (the sections that shape the tables)."""
    text = json.dumps({k: v for k, v in config.items() if k != "name"}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_record(name: str, root: str | Path = ".") -> dict[str, Any] | None:
    """The record of run ``name`` (see :func:`record_run`); None if there is none or it cannot be read."""
    try:
        record = yaml.safe_load(read_state_text(figures_dir(name, root) / RECORD, "run record"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


def check_run_name(config: dict[str, Any], root: str | Path = ".") -> None:
    """Raise ``InputError`` if run ``config['name']`` already holds the results of a config on other datasets: one
    that leaves out a dataset of the recorded run (adding datasets extends the same run; dropping one means another
    configuration, whose tables and figures would replace the run's)."""
    name = with_defaults(config, validate=False)["name"]
    record = read_record(name, root)
    if record is None or not isinstance(record.get("datasets"), list):
        return
    datasets = run_datasets(config)
    if set(map(str, record["datasets"])) <= set(datasets):
        return
    recorded = ", ".join(map(str, record["datasets"])) or "none"
    suggestion = "-".join(datasets[:2]) or "mine"
    suggestion = suggestion if suggestion != name else f"{name}-2"
    raise InputError(f"run name {name!r} already holds the results of another configuration (datasets: {recorded}); "
                     f"set `name:` in your config (e.g. name: {suggestion}) or delete {FIGURES_ROOT / name}")


def record_run(config: dict[str, Any], configfiles: Sequence[str | Path] = (), root: str | Path = ".") -> Path:
    """Write ``results/figures/<name>/run_config.yaml``: the run's datasets (what :func:`check_run_name` compares),
    the config digest, the config files and the start time of this invocation (read back for the run time in
    ``provenance.yaml``). Called by the workflow's ``onstart``, before the first job."""
    name = with_defaults(config, validate=False)["name"]
    record = {
        "name": name,
        "datasets": run_datasets(config),
        "config_digest": config_digest(config),
        "configfiles": [str(p) for p in configfiles],
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    path = figures_dir(name, root) / RECORD
    atomic_write_text(path, yaml.safe_dump(record, sort_keys=False, allow_unicode=True))
    return path


def run_time(name: str, root: str | Path = ".", now: dt.datetime | None = None) -> dict[str, Any] | None:
    """``{started, seconds}`` of the invocation that is finishing run ``name`` (its record's start time, up to
    ``now``); None without a readable record."""
    record = read_record(name, root)
    try:
        started = dt.datetime.fromisoformat(str(record["started"]))  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        return None
    now = now or dt.datetime.now(dt.timezone.utc)
    if started.tzinfo is None or started > now:
        return None
    return {"started": started.isoformat(timespec="seconds"), "seconds": round((now - started).total_seconds())}
