"""Reading amips' own state files (manifests, written-markers, run records, caches) and the files a command is
given, so that no planted file can hang or crash the reader: a regular file (not a FIFO, device or folder), of a
bounded size, with bounded nesting.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from amips.core.errors import InputError

__all__ = ["STATE_BYTES", "check_regular_file", "read_state_text", "parse_state_json"]

STATE_BYTES = 64 << 20  # the largest JSON/YAML state file amips reads (manifests, records, caches)


def check_regular_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` if it is a regular file (after links); a FIFO, device, socket or folder would hang or fail the
    reader, so it is an ``InputError`` naming ``what``; a missing file is a ``FileNotFoundError``."""
    path = Path(path)
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
        raise InputError(f"{what} {path} is {kind}; give a regular file")
    return path


def read_state_text(path: str | os.PathLike, what: str) -> str:
    """The text of a state file (manifest, marker, record, cache): a regular file of at most ``STATE_BYTES``."""
    path = check_regular_file(path, what)
    if path.stat().st_size > STATE_BYTES:
        raise InputError(f"{what} {path} is larger than {STATE_BYTES >> 20} MiB; it is not one amips wrote")
    return path.read_text(encoding="utf-8")


def parse_state_json(text: str, what: str) -> Any:
    """JSON of a state file; nesting too deep to parse is a ``ValueError`` like any other corrupt content."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(f"{what} is nested too deeply to be one amips wrote") from None
