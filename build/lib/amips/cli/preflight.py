"""The checks of a command's files that run before the command imports torch or faiss (``import torch`` alone takes
seconds, and 10+ s on a loaded machine), and the first line a command logs.

Options are recognised by their destination name, whatever the command (:data:`ARRAYS`, :data:`FOLDERS`,
:data:`MODEL`, :data:`OUTPUT`); an option that takes a choice or a typed value (``fit --model keynet``) is no path
and is skipped, and so is an option left unset (None). Only headers are read (:func:`amips.data.io.read_npy_header`,
no data): an input ``.npy`` file must exist and be a 2-D, non-empty numeric array whose header promises data the
file holds and memory can take, with the keys' dimension; a folder (``--data``, ``--labels``) must be a folder; a
model a file or a run directory with ``model.pt``; ``--out`` must lie under a writable folder; and ``--k`` must not
exceed the rows of ``--keys``. The messages are those the command's own checks and loaders give later (they name the
option's input and path), so a mistake reads the same, only seconds sooner.

Then, if the command names an input and torch is not loaded yet, one INFO line on the ``amips`` logger says what
it is about to read::

    12:00:01 amips: fit: keys my_data/keys.npy [2000, 32] float32, queries my_data/queries.npy [1000, 32] float32;
    loading torch

(on one line). With torch already loaded (the command run from Python, as the tests do) the command starts at once
and logs no such line.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from amips.cli.options import UsageError
from amips.core.errors import InputError, OutputError
from amips.data.io import check_embedding_shape, read_npy_header

# destination → what the loaders call it in their messages (load_key_query_files: "keys", "queries", "--val-queries")
ARRAYS = {"keys": "keys", "queries": "queries", "val_queries": "--val-queries"}
# destination → the folder kind of amips.data.manifest.verify_manifest
FOLDERS = {"data": "dataset", "labels": "labels"}
MODEL = "model"  # a model file, or a run directory holding model.pt (amips.models.factory.load_payload)
OUTPUT = "out"  # a file or folder to write
PATH_DESTS = (*ARRAYS, *FOLDERS, MODEL, OUTPUT)

log = logging.getLogger("amips")


@dataclass(frozen=True)
class Plan:
    """What :func:`run` checks for one command: its name and its path options (destination → option string)."""

    command: str
    paths: Mapping[str, str] = field(default_factory=dict)


def plan(command: str, parser: argparse.ArgumentParser) -> Plan:
    """The :class:`Plan` of ``command`` from its parser: the options of :data:`PATH_DESTS` that take a plain string."""
    paths = {action.dest: max(action.option_strings, key=len) for action in parser._actions
             if action.dest in PATH_DESTS and action.option_strings and action.choices is None
             and action.type is None and action.nargs is None}
    return Plan(command, paths)


def run(args: argparse.Namespace) -> list[str]:
    """Check the files named by ``args`` (see the module doc); log the first line; return its parts."""
    todo: Plan | None = getattr(args, "preflight", None)
    if todo is None:
        return []
    given = {dest: str(value) for dest in todo.paths if (value := getattr(args, dest, None)) is not None}
    described: list[str] = []
    dim, num_keys = None, None
    if "keys" in given:
        shape, dtype = _array(given["keys"], ARRAYS["keys"], None)
        num_keys, dim = shape
        described.append(_describe("keys", given["keys"], shape, dtype))
    if "data" in given:
        _folder(given["data"], FOLDERS["data"])
        header = _dataset_keys(given["data"]) if dim is None else None
        if header is not None:
            dim = header[0][1]
        described.append(f"data {given['data']}" + (f" (keys {_shape(header[0])} {header[1]})" if header else ""))
    for dest in ("queries", "val_queries"):
        if dest in given:
            shape, dtype = _array(given[dest], ARRAYS[dest], dim)
            described.append(_describe(dest.replace("_", "-"), given[dest], shape, dtype))
    if "labels" in given:
        _folder(given["labels"], FOLDERS["labels"])
        described.append(f"labels {given['labels']}")
    if MODEL in given:
        _model(given[MODEL])
        described.append(f"model {given[MODEL]}")
    if OUTPUT in given:
        _output(given[OUTPUT])
    _counts(args, given, num_keys)
    if described and "torch" not in sys.modules:  # torch loaded already (a library caller): the command starts now
        log.info("%s: %s; loading torch", todo.command, ", ".join(described))
    return described


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(n) for n in shape) + "]"


def _describe(what: str, path: str, shape: tuple[int, ...], dtype: Any) -> str:
    return f"{what} {path} {_shape(shape)} {dtype}"


def _array(path: str, name: str, dim: int | None) -> tuple[tuple[int, ...], Any]:
    """Shape and dtype of an embedding matrix file, checked as :func:`amips.data.io.load_embeddings` checks it."""
    shape, dtype = read_npy_header(path, name)
    check_embedding_shape(shape, dtype, f"{name} ({path})", dim)
    return shape, dtype


def _dataset_keys(folder: str) -> tuple[tuple[int, ...], Any] | None:
    """Shape and dtype of a dataset folder's keys.npy; None when unreadable (the folder's manifest check, which
    names the folder, reports it)."""
    path = Path(folder) / "keys.npy"
    if not path.is_file():
        return None
    try:
        return _array(str(path), "keys", None)
    except InputError:
        return None


def _folder(folder: str, kind: str) -> None:
    """``folder`` is a folder (the first checks of :func:`amips.data.manifest.verify_manifest`, same messages)."""
    path = Path(folder)
    if path.is_file():
        raise InputError(f"{path} is a file, but a {kind} folder is expected here (give the folder that holds "
                         f"it: {path.parent})")
    if not path.is_dir():
        raise InputError(f"{kind} folder not found: {path}")


def _model(model: str) -> None:
    """``model`` is a file or a run directory with model.pt (as :func:`amips.models.factory.load_payload` reads it)."""
    path = Path(model)
    if not path.exists():
        raise InputError(f"model file not found: {path}")
    if path.is_dir() and not (path / "model.pt").is_file():
        raise InputError(f"model path {path} is a directory without model.pt; give the model file")


def _output(out: str) -> None:
    """The nearest existing folder above ``out`` is a writable folder (missing folders below it are created)."""
    above = Path(out).parent
    while not above.exists():
        if above == above.parent:  # nothing above exists (a deleted working directory): the writer reports it
            return
        above = above.parent
    if not above.is_dir():
        raise OutputError(errno.ENOTDIR, f"cannot write {out}: {above} exists and is not a directory")
    if not os.access(above, os.W_OK | os.X_OK):
        code = errno.EROFS if _read_only(above) else errno.EACCES
        raise OutputError(code, f"cannot write {out}: {os.strerror(code)}")


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _counts(args: argparse.Namespace, given: Mapping[str, str], num_keys: int | None) -> None:
    """Counts that must not exceed the rows of an input: ``--k`` (keys returned per query) ≤ the keys in --keys
    (the message of ``amips search``'s own check)."""
    k = getattr(args, "k", None)
    if num_keys is not None and isinstance(k, int) and k > num_keys:
        raise UsageError(f"--k {k} exceeds the {num_keys} keys in --keys {given['keys']}")
