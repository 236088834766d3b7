"""Safe file I/O: validated array loading and atomic writes.

Every writer here writes to a temporary file in the destination directory and renames it into
place (``os.replace``), so a crash never leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


class InputError(ValueError):
    """A user-supplied input (file, array, config value) is unusable; the message names it."""


class OutputError(OSError):
    """An output file cannot be written (permission denied, disk full, a parent is a file); the message names it."""

    def __str__(self) -> str:
        return str(self.strerror)


def _output_error(path: Path, exc: OSError) -> OutputError:
    """``exc``, raised while writing ``path``, as a one-line :class:`OutputError` naming ``path``."""
    if isinstance(exc, FileExistsError):
        reason = f"{exc.filename} exists and is not a directory"
    else:
        reason = exc.strerror or str(exc)
    return OutputError(exc.errno, f"cannot write {path}: {reason}")


def _owner() -> str:
    """``<host>-<pid>`` of this process, embedded in temporary file names (dots in the host name become '_')."""
    return f"{socket.gethostname().replace('.', '_')}-{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of ``path`` left by killed writers; returns what was removed.

    A temporary file of :func:`atomic_path` is named ``.<name>.<host>-<pid>.<random>.tmp…``; it is stale when
    ``host`` is this machine and process ``pid`` no longer exists (a writer on another host, or one still
    running, is left alone).
    """
    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(?P<host>[^.]+)-(?P<pid>\d+)\..*\.tmp(\.\w+)?$")
    host = socket.gethostname().replace(".", "_")
    removed = []
    with contextlib.suppress(OSError):
        for candidate in path.parent.iterdir():
            match = pattern.match(candidate.name)
            if match and match["host"] == host and not _alive(int(match["pid"])):
                with contextlib.suppress(FileNotFoundError):
                    candidate.unlink()
                    removed.append(candidate)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds.

    The temporary file keeps the destination's suffix (some writers, e.g. ``np.save``, care) and gets the
    permissions of a normally created file (0666 minus the umask, not ``mkstemp``'s 0600).
    On any exception the temporary file is removed and ``path`` is left untouched. An ``OSError`` about the
    destination or the temporary file (permission denied, disk full, …) becomes an :class:`OutputError` naming
    ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.{_owner()}.", suffix=suffix if suffix is not None else path.suffix + ".tmp",
            dir=path.parent,
        )
    except OSError as exc:
        raise _output_error(path, exc) from exc
    os.fchmod(fd, 0o666 & ~_UMASK)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the final file the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if (isinstance(exc, OSError) and not isinstance(exc, OutputError)
                and (exc.filename is None or str(exc.filename) == str(tmp_path))):
            raise _output_error(path, exc) from exc
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def atomic_save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Save ``array`` to ``path`` (``.npy``) atomically, never pickling."""
    with atomic_path(path, suffix=".tmp.npy") as tmp:
        np.save(tmp, np.asarray(array), allow_pickle=False)


def load_npy(path: str | os.PathLike, name: str = "array", mmap: bool = False) -> np.ndarray:
    """Load a ``.npy`` file without pickling, turning every failure into a one-line ``InputError``.

    Args:
        path: file to read.
        name: what the array is (``"keys"``, ``"queries"``), used in error messages.
        mmap: memory-map the file read-only instead of reading it into memory.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{name} file not found: {path}")
    if path.is_dir():
        raise InputError(f"{name} path is a directory, expected a .npy file: {path}")
    try:
        with path.open("rb") as fh:
            magic = fh.read(6)
    except PermissionError as exc:
        raise InputError(f"{name} file is not readable (permission denied): {path}") from exc
    if magic != b"\x93NUMPY":
        hint = " (looks like an .npz archive; save a single array with np.save)" if zipfile.is_zipfile(path) else ""
        raise InputError(f"{name} file is not a .npy file{hint}: {path}")
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise InputError(f"{name} file holds a pickled object array, expected numeric data: {path}") from exc
        raise InputError(f"{name} file is corrupt or truncated ({exc}): {path}") from exc
    except (OSError, EOFError) as exc:
        raise InputError(f"{name} file is corrupt or truncated ({exc}): {path}") from exc


def validate_embeddings(array: np.ndarray, name: str, dim: int | None = None) -> np.ndarray:
    """Check that ``array`` is a finite, non-empty 2-D float matrix [n, d]; return it as float32.

    Integer and float64 arrays are converted to float32 (a float64 input loses precision, which is
    harmless for embeddings); complex, boolean and object arrays are rejected.

    Raises:
        InputError: naming ``name`` and the problem.
    """
    if array.dtype.kind not in "fiu":
        raise InputError(f"{name} must be a numeric float array, got dtype {array.dtype}")
    if array.ndim != 2:
        raise InputError(f"{name} must be 2-D [n, d], got shape {tuple(array.shape)}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(f"{name} is empty (shape {tuple(array.shape)})")
    if dim is not None and array.shape[1] != dim:
        raise InputError(f"{name} has dimension {array.shape[1]} but the keys have dimension {dim}")
    out = np.asarray(array, dtype=np.float32)
    bad = ~np.isfinite(out)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise InputError(f"{name} contains NaN or Inf ({int(bad.sum())} values, first in row {row})")
    return out


def load_embeddings(path: str | os.PathLike, name: str, dim: int | None = None, mmap: bool = False) -> np.ndarray:
    """Load and validate an embedding matrix [n, d] from a ``.npy`` file (see :func:`validate_embeddings`).

    With ``mmap=True`` a float32 file stays memory-mapped (finiteness is checked chunk by chunk).
    """
    array = load_npy(path, name=name, mmap=mmap)
    if mmap and array.dtype == np.float32 and array.ndim == 2:
        validate_embeddings(array[:1], f"{name} ({path})", dim)
        for start in range(0, array.shape[0], 65536):
            block = array[start : start + 65536]
            if not np.isfinite(block).all():
                raise InputError(f"{name} contains NaN or Inf (in rows {start}..{start + len(block) - 1})")
        return array
    return validate_embeddings(array, f"{name} ({path})", dim)


def check_distinct_paths(outputs: Mapping[str, str | os.PathLike], inputs: Mapping[str, str | os.PathLike]) -> None:
    """Refuse an output that is one of the inputs (the same file or directory, by ``os.path.samefile``).

    ``outputs``/``inputs`` map a description (``"results"``, ``"queries"``) to a path; an output that does not
    exist yet cannot be an input.
    """
    for out_name, out in outputs.items():
        for in_name, inp in inputs.items():
            with contextlib.suppress(OSError):
                if os.path.samefile(out, inp):
                    raise InputError(f"{out_name} {out} is the {in_name} input {inp}: writing it would destroy the "
                                     "input; choose another output path")


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, what: str) -> Iterator[None]:
    """Hold an exclusive lock on writing ``path`` (lock file ``.<name>.lock`` next to it, removed on exit).

    A second process asking for the same lock gets an ``InputError`` naming the holder's pid instead of silently
    racing it; the kernel releases the lock of a killed process, so a crash never leaves it held.
    """
    path = Path(path)
    lock = path.with_name(f".{path.name}.lock")
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _output_error(path, exc) from exc
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
        except OSError as exc:
            raise _output_error(path, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise InputError(f"{path} is being written by another {what} (pid {holder}); wait for it to finish or "
                             "choose another output") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino  # not unlinked by a holder that just finished
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
        os.close(fd)
