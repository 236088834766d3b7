"""Provenance of a set of figures: the config that made them, the commit, the machine and the date."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import yaml

from amips.core.envlock import lock_status
from amips.data.io import atomic_write_text


def git_state(repo: str | Path) -> dict[str, Any]:
    """Commit hash and whether tracked files (other than the generated paper_figures/) differ from it."""
    def run(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    commit = run("rev-parse", "HEAD")
    status = run("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)paper_figures")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def write_provenance(path: str | Path, config: dict[str, Any], figures: list[str], repo: str | Path,
                     skipped: dict[str, str] | None = None) -> None:
    """YAML next to the figures: date, commit, machine, the environment against its lock file (packages whose
    installed version differs from envs/requirements.lock), the figure files, the figures the config cannot make
    (with the reason) and the full (validated) config."""
    record = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git": git_state(repo),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "python": platform.python_version()},
        "environment": lock_status(),
        "figures": [Path(f).name for f in figures],
        "skipped_figures": dict(skipped or {}),
        "config": config,
    }
    atomic_write_text(path, yaml.safe_dump(record, sort_keys=False, allow_unicode=True))
