"""Logging set-up shared by the CLI and the Snakemake adapters."""

from __future__ import annotations

import logging
import sys
from typing import TextIO


def configure_logging(stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """One 'time level name: message' line per record on ``stream`` (stderr by default)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def redirect_to_log(path: str) -> None:
    """Send stderr (tracebacks, warnings) and logging to the Snakemake job's log file."""
    sys.stderr = open(path, "w", buffering=1)  # noqa: SIM115 - lives as long as the job
    configure_logging(sys.stderr)
