"""Provenance of a run's figures (the config that made them, the commit, the machine, the date and the run time),
and publishing a finished run from ``results/figures/<name>/`` into the tracked ``paper_figures/<name>/``."""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any, Sequence

import yaml

from amips.core.envlock import lock_status
from amips.data.io import InputError, atomic_path, atomic_write_text


def git_state(repo: str | Path) -> dict[str, Any]:
    """Commit hash and whether tracked files (other than the published runs in paper_figures/) differ from it."""
    def run(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    commit = run("rev-parse", "HEAD")
    status = run("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)paper_figures")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def write_provenance(path: str | Path, config: dict[str, Any], figures: list[str], repo: str | Path,
                     skipped: dict[str, str] | None = None, run: dict[str, Any] | None = None) -> None:
    """YAML next to the figures: date, commit, machine, the environment against its lock file (packages whose
    installed version differs from envs/requirements.lock), the run time (``run``: the start of the snakemake
    invocation that finished the run and its seconds until now, when known), the figure files, the figures the
    config cannot make (with the reason) and the full (validated) config."""
    record = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git": git_state(repo),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "python": platform.python_version()},
        "environment": lock_status(),
        **({"run": dict(run)} if run else {}),
        "figures": [Path(f).name for f in figures],
        "skipped_figures": dict(skipped or {}),
        "config": config,
    }
    atomic_write_text(path, yaml.safe_dump(record, sort_keys=False, allow_unicode=True))


PROVENANCE = "provenance.yaml"
KEEP = ("README.md",)  # written by hand in a published folder: never removed by publish_run


def publish_run(files: Sequence[str | Path], dest: str | Path) -> dict[str, list[str]]:
    """Copy a finished run's ``files`` into ``dest`` (``paper_figures/<name>/``) and remove the files of ``dest``
    that the run no longer makes.

    Each file is copied to a temporary file beside its destination and renamed into place, ``provenance.yaml``
    last, with a ``published`` entry (the date and the published files) added to the run's own record. Files of
    ``dest`` not among ``files`` are then removed, except README.md, hidden files and folders. Two files with one
    name are an ``InputError``. Returns ``{"copied": names, "removed": names}``.
    """
    dest = Path(dest)
    sources: dict[str, Path] = {}
    for file in map(Path, files):
        if file.name in sources and sources[file.name] != file:
            raise InputError(f"cannot publish both {sources[file.name]} and {file} as {dest / file.name}")
        sources[file.name] = file
    names = sorted(sources, key=lambda n: (n == PROVENANCE, n))
    for name in names:
        if name == PROVENANCE:
            continue
        with atomic_path(dest / name) as tmp:
            shutil.copyfile(sources[name], tmp)
    if PROVENANCE in sources:
        record = yaml.safe_load(sources[PROVENANCE].read_text(encoding="utf-8")) or {}
        record["published"] = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                               "files": sorted(sources)}
        atomic_write_text(dest / PROVENANCE, yaml.safe_dump(record, sort_keys=False, allow_unicode=True))
    removed = sorted(p.name for p in dest.iterdir()
                     if p.is_file() and not p.name.startswith(".") and p.name not in sources and p.name not in KEEP)
    for name in removed:
        (dest / name).unlink()
    return {"copied": names, "removed": removed}
