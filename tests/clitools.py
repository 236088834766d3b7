"""Helpers shared by the command-line tests (test_cli, test_bad_input, test_faults)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from amips.cli import main
from amips.data.io import MARKER_DIR
from amips.pipeline.stages.data import make_dataset

REPO = Path(__file__).resolve().parents[1]
AMIPS = Path(sys.executable).with_name("amips")

# A model and schedule small enough for a fraction of a second of training on one core.
TINY_MODEL = ("--model", "keynet", "--depth", "2", "--wx-inject", "2", "--width", "16")
# fit without its recommended preset (no retrieval term, no IVF index, no baselines): the plain defaults
TINY_FIT = (*TINY_MODEL, "--preset", "none", "--no-baselines", "--steps", "30", "--batch-size", "32", "--noise-copies",
            "1", "--threads", "1", "--quiet")


@dataclass
class Result:
    code: int
    out: str
    err: str


def run(capsys, *argv: object) -> Result:
    """``amips argv…`` in this process; returns the exit code and what it printed."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def run_process(*argv: object, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``amips argv…`` as a subprocess (the installed console script)."""
    env = {**os.environ, "AMIPS_DEBUG": ""}
    return subprocess.run([str(AMIPS), *map(str, argv)], cwd=cwd, env=env, text=True, capture_output=True,
                          timeout=timeout)


def make_data(out_dir: Path, num_keys: int = 200, num_queries: int = 100, dim: int = 8, seed: int = 0) -> Path:
    """A structured synthetic dataset directory with keys.npy and queries.npy."""
    make_dataset({"source": "structured", "num_keys": num_keys, "num_queries": num_queries, "dim": dim, "seed": seed,
                  "options": {"num_clusters": 4, "intrinsic_dim": 3}}, out_dir)
    return out_dir


def files_under(path: Path) -> set[str]:
    """Relative paths of every file below ``path`` (hidden temporary files included; the markers of the files amips
    wrote, in ``.amips-written/`` folders, left out)."""
    if not path.exists():
        return set()
    return {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file() and MARKER_DIR not in p.parts}


def metrics_table(text: str) -> dict[str, str]:
    """The ``metric  value`` table that ``amips evaluate`` prints (between its header and the baselines), as a dict."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split() == ["metric", "value"]) + 1
    table = {}
    for line in lines[start:]:
        fields = line.split()
        if len(fields) != 2:
            break
        table[fields[0]] = fields[1]
    return table


def one_error_line(result: Result) -> str:
    """The one ``amips: error:`` line of a failed command (exit 2, no traceback)."""
    errors = [line for line in result.err.splitlines() if line.startswith("amips: error: ")]
    assert result.code == 2 and len(errors) == 1 and "Traceback" not in result.err, result.err
    return errors[0]


def interrupt_after(monkeypatch, steps: int) -> None:
    """Make the next training stop (checkpointed) after ``steps`` steps, as a Ctrl-C would."""
    import amips.training.runs

    real = amips.training.runs.train_model

    def interrupted(*args, **kwargs):
        real(*args, **{**kwargs, "stop_after": steps})
        raise KeyboardInterrupt

    monkeypatch.setattr(amips.training.runs, "train_model", interrupted)


def set_at(path: str, value: object):
    """A mutation setting the dotted ``path`` of a nested mapping to ``value``."""
    def mutate(mapping: dict) -> None:
        *parents, last = path.split(".")
        for part in parents:
            mapping = mapping[part]
        mapping[last] = value
    return mutate

