"""`make publish CONFIG=…` must hand snakemake the target before `--configfile` (which takes every following word
as another config file)."""
from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_publish_with_a_config_names_the_target_before_the_config_files():
    dry = subprocess.run(["make", "-n", "-W", ".venv/.amips-installed", "publish", "CONFIG=config/medium.yaml"],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    line = next(l for l in dry.splitlines() if "snakemake" in l and "publish" in l)
    words = shlex.split(line)
    assert words.index("publish") < words.index("--configfile"), line
    assert words[words.index("--configfile") + 1:] == ["config/medium.yaml"], line
