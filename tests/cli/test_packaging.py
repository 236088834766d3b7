"""A non-editable install works on its own: the schema and the lock files ship as package data (issue 26 item 2)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_plain_install_checks_a_config_without_the_repository(tmp_path):
    target = tmp_path / "site"
    built = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                            "--no-index", "--target", str(target), str(REPO)], capture_output=True, text=True,
                           timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    resources = target / "amips" / "core" / "resources"
    for name in ("config.schema.yaml", "requirements.lock", "requirements-nodeps.lock"):
        assert (resources / name).is_file() and not (resources / name).is_symlink(), name
    assert (resources / "config.schema.yaml").read_bytes() == (REPO / "workflow/schemas/config.schema.yaml").read_bytes()
    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(REPO / "config.yaml", work / "config.yaml")
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run([sys.executable, "-c", "import amips; print(amips.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, timeout=60)
    assert where.stdout.startswith(str(target)), where.stdout + where.stderr
    done = subprocess.run([sys.executable, str(target / "bin" / "amips"), "check-config", "config.yaml"], cwd=work,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "config OK: config.yaml" in done.stdout, done.stdout + done.stderr
