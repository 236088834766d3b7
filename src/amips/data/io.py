"""Safe file I/O: validated array loading and atomic writes.

Every writer here writes to a temporary file in the destination directory and renames it into
place (``os.replace``), so a crash never leaves a half-written output behind. Each file written that way is
recorded in ``<dir>/.amips-written/<name>`` (its size and modification time), so that a command can tell its own
earlier output, which it may replace, from a user's file, which it may not without ``--overwrite``
(:func:`check_replaceable`). Names derived from an output's name (temporary files, locks, markers) are shortened
to stay within the file system's 255-byte name limit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import socket
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from amips.core.errors import InputError, OutputError  # noqa: F401  (raised here; imported from here by callers)
from amips.data.state_files import check_regular_file, parse_state_json, read_state_text


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _output_error(path: Path, exc: OSError) -> OutputError:
    """``exc``, raised while writing ``path``, as a one-line :class:`OutputError` naming ``path``."""
    if isinstance(exc, FileExistsError):
        reason = f"{exc.filename} exists and is not a directory"
    else:
        reason = exc.strerror or str(exc)
    return OutputError(exc.errno, f"cannot write {path}: {reason}")


NAME_MAX = 255  # bytes of one file name (Linux, macOS)
TEMP_NAME_BYTES = 128  # longest output name kept whole inside a temporary file's name (see _short_name)
MARKER_DIR = ".amips-written"  # <dir>/.amips-written/<name>: amips wrote <dir>/<name> (see check_replaceable)


def _host() -> str:
    """This machine's name as embedded in temporary file names: dots become '_', at most 64 characters."""
    return socket.gethostname().replace(".", "_")[:64]


def _owner() -> str:
    """``<host>-<pid>`` of this process, embedded in temporary file names."""
    return f"{_host()}-{os.getpid()}"


def _short_name(name: str, limit: int) -> str:
    """``name`` if it has at most ``limit`` bytes (UTF-8), else its first bytes, ``~`` and 8 hex digits of its
    SHA-256: unique, recognisable, ``limit`` bytes at most, and always the same for the same name."""
    raw = name.encode()
    if len(raw) <= limit:
        return name
    head = raw[: limit - 9].decode(errors="ignore")
    return f"{head}~{hashlib.sha256(raw).hexdigest()[:8]}"


def sibling_path(path: str | os.PathLike, suffix: str) -> Path:
    """``path`` with ``suffix`` appended to its name (``model.pt`` → ``model.pt.ckpt``), the name shortened by
    :func:`_short_name` where the result would exceed the 255-byte name limit."""
    path = Path(path)
    return path.with_name(_short_name(path.name, NAME_MAX - len(suffix.encode())) + suffix)


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
    name = re.escape(_short_name(path.name, TEMP_NAME_BYTES))
    pattern = re.compile(rf"^\.{name}\.(?P<host>[^.]+)-(?P<pid>\d+)\..*\.tmp(\.\w+)?$")
    host = _host()
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

    The temporary file ``.<name>.<host>-<pid>.<random><suffix>`` keeps the destination's suffix (some writers,
    e.g. ``np.save``, care; a suffix over 32 bytes becomes ``.tmp``), stays within the 255-byte name limit (a name
    over 128 bytes is shortened, see :func:`_short_name`) and gets the permissions of a normally created file
    (0666 minus the umask, not ``mkstemp``'s 0600).
    On any exception the temporary file is removed and ``path`` is left untouched. An ``OSError`` about the
    destination or the temporary file (permission denied, disk full, …) becomes an :class:`OutputError` naming
    ``path``. Before the rename, the file is recorded as written by amips (see :func:`written_by_amips`).
    """
    with _atomic_path(Path(path), suffix, mark=True) as tmp:
        yield tmp


@contextlib.contextmanager
def _atomic_path(path: Path, suffix: str | None, mark: bool = False) -> Iterator[Path]:
    """:func:`atomic_path`; ``mark``: record the new file as written by amips (:func:`_mark_written`)."""
    suffix = suffix if suffix is not None else path.suffix + ".tmp"
    if len(suffix.encode()) > 32:
        suffix = ".tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{_short_name(path.name, TEMP_NAME_BYTES)}.{_owner()}.", suffix=suffix,
                                   dir=path.parent)
    except OSError as exc:
        raise _output_error(path, exc) from exc
    os.fchmod(fd, 0o666 & ~_UMASK)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the final file the usual permissions
    try:
        yield tmp_path
        if mark:
            _mark_written(path, tmp_path)
        os.replace(tmp_path, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if (isinstance(exc, OSError) and not isinstance(exc, OutputError)
                and (exc.filename is None or str(exc.filename) == str(tmp_path))):
            raise _output_error(path, exc) from exc
        raise


def _marker(path: Path) -> Path:
    return path.parent / MARKER_DIR / path.name


def _identity(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def _mark_written(path: Path, new: Path) -> None:
    """Record in ``<dir>/.amips-written/<name>`` that amips is about to rename ``new`` onto ``path``.

    The marker lists the size and modification time (which the rename keeps) of ``new`` and, if amips wrote it, of
    the file now at ``path``, so that whether a kill comes before or after the rename, the file there is
    recognised. Best effort: a marker that cannot be written only means that replacing the file later needs
    ``--overwrite``.
    """
    with contextlib.suppress(OSError):
        written = ([_identity(path)] if written_by_amips(path) else []) + [_identity(new)]
        marker = _marker(path)
        marker.parent.mkdir(exist_ok=True)
        if os.path.islink(marker.parent) or not stat.S_ISDIR(os.lstat(marker.parent).st_mode):
            return  # a planted link: never write through it (replacing the file later then needs --overwrite)
        with _atomic_path(marker, ".tmp") as tmp:
            tmp.write_text(json.dumps({"written": written}) + "\n", encoding="utf-8")


def _marker_trusted(marker: Path) -> bool:
    """A marker and its folder are what amips made: a real folder and a regular file, no symbolic link (a planted
    link would make another folder's files look like amips' own, or be written through)."""
    try:
        folder, record = os.lstat(marker.parent), os.lstat(marker)
    except OSError:
        return False
    return stat.S_ISDIR(folder.st_mode) and stat.S_ISREG(record.st_mode)


def written_by_amips(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a file as amips wrote it: its marker (see :func:`atomic_path`) records its current size
    and modification time, so a file changed or replaced since, or copied without its times, is not."""
    path = Path(path)
    if not _marker_trusted(_marker(path)):
        return False
    try:
        identity = _identity(path)
        record = parse_state_json(read_state_text(_marker(path), "marker"), "marker")
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and identity in record.get("written", [])


def check_replaceable(outputs: Mapping[str, str | os.PathLike], overwrite: bool, folders: bool = False) -> None:
    """Refuse to replace a file that amips did not write, unless ``overwrite``.

    ``outputs`` maps the option that names an output (``"--out"``) to its path: a file, or with ``folders=True``
    a folder whose visible files (names not starting with '.') are checked. Files amips wrote (an earlier run of
    the same command) may be replaced, so that rerunning a command works; anything else is an ``InputError``.
    """
    if overwrite:
        return
    for option, out in outputs.items():
        out = Path(out)
        if folders and out.is_dir():
            foreign = sorted(p.name for p in out.iterdir()
                             if not p.name.startswith(".") and p.is_file() and not written_by_amips(p))
            if foreign:
                shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
                raise InputError(f"{option} {out} holds files amips did not write ({shown}); pass --overwrite to "
                                 "write into it anyway, or choose another folder")
        elif not folders and out.is_file() and not written_by_amips(out):
            raise InputError(f"{option} {out} exists and was not written by amips; pass --overwrite to replace it")


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON atomically; always valid JSON (see :func:`json_text`)."""
    atomic_write_text(path, json_text(obj))


def json_text(obj: Any) -> str:
    """``obj`` as indented, key-sorted JSON text, never with ``NaN``/``Infinity`` (which are not JSON).

    A non-finite float becomes ``null``; when ``obj`` is a mapping, the key ``non_finite_fields`` maps where each
    was (``"val_loss"``, ``"history[3].loss"``) to what it was (``"nan"``, ``"inf"``, ``"-inf"``), so that a reader
    can restore it (:func:`amips.reporting.tables.load_runs` does). NumPy scalars and arrays and paths are converted.
    """
    try:
        return json.dumps(obj, indent=2, sort_keys=True, default=_json_default, allow_nan=False) + "\n"
    except ValueError:  # a NaN or an infinity somewhere
        flagged: dict[str, str] = {}
        clean = _finite_json(obj, "", flagged)
        if isinstance(clean, dict):
            clean["non_finite_fields"] = flagged
        return json.dumps(clean, indent=2, sort_keys=True, allow_nan=False) + "\n"


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _finite_json(obj: Any, where: str, flagged: dict[str, str]) -> Any:
    """A copy of ``obj`` with plain Python values, non-finite floats replaced by None (``flagged``: place → value)."""
    if isinstance(obj, (np.generic, np.ndarray, Path)):
        obj = _json_default(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        flagged[where or "(value)"] = repr(obj)
        return None
    if isinstance(obj, Mapping):
        return {key: _finite_json(value, f"{where}.{key}" if where else str(key), flagged)
                for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_json(value, f"{where}[{i}]", flagged) for i, value in enumerate(obj)]
    return obj


def _restore_non_finite(obj: Any, where: str, flagged: Mapping[str, str]) -> Any:
    """Inverse of :func:`_finite_json`: the None at each flagged place put back as the float it was."""
    if obj is None and (where or "(value)") in flagged:
        return float(flagged[where or "(value)"])
    if isinstance(obj, dict):
        return {key: _restore_non_finite(value, f"{where}.{key}" if where else str(key), flagged)
                for key, value in obj.items()}
    if isinstance(obj, list):
        return [_restore_non_finite(value, f"{where}[{i}]", flagged) for i, value in enumerate(obj)]
    return obj


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """A JSON output of amips (:func:`json_text`), its non-finite numbers restored; one-line InputError otherwise."""
    try:
        obj = parse_state_json(read_state_text(path, what), what)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read {what} {path}: {exc}") from exc
    if isinstance(obj, dict) and isinstance(obj.get("non_finite_fields"), dict):
        flagged = obj.pop("non_finite_fields")
        obj = _restore_non_finite(obj, "", flagged)
    return obj


class _Writer:
    """Only the ``write`` of a binary file: ``np.save`` then writes through Python, whose errors keep their errno
    (``No space left on device``), instead of ``ndarray.tofile``, whose errors do not."""

    def __init__(self, fh: Any) -> None:
        self.write = fh.write


def atomic_save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Save ``array`` to ``path`` (``.npy``) atomically, never pickling."""
    with atomic_path(path, suffix=".tmp.npy") as tmp, tmp.open("wb") as fh:
        np.save(_Writer(fh), np.asarray(array), allow_pickle=False)


def load_npy(path: str | os.PathLike, name: str = "array", mmap: bool = False) -> np.ndarray:
    """Load a ``.npy`` file without pickling, turning every failure into a one-line ``InputError``.

    Args:
        path: file to read.
        name: what the array is (``"keys"``, ``"queries"``), used in error messages.
        mmap: memory-map the file read-only instead of reading it into memory.
    """
    path = Path(path)
    if mmap:
        _check_npy_file(path, name)
    else:
        read_npy_header(path, name)
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise InputError(f"{name} file holds a pickled object array, expected numeric data: {path}") from exc
        raise InputError(f"{name} file is corrupt or truncated ({exc}): {path}") from exc
    except (OSError, EOFError) as exc:
        raise InputError(f"{name} file is corrupt or truncated ({exc}): {path}") from exc


def _check_npy_file(path: Path, name: str) -> None:
    """``path`` exists, is a readable file and starts with the ``.npy`` magic string."""
    if not path.exists():
        raise InputError(f"{name} file not found: {path}")
    if path.is_dir():
        raise InputError(f"{name} path is a directory, expected a .npy file: {path}")
    check_regular_file(path, f"{name} file")
    try:
        with path.open("rb") as fh:
            magic = fh.read(6)
    except PermissionError as exc:
        raise InputError(f"{name} file is not readable (permission denied): {path}") from exc
    if magic != b"\x93NUMPY":
        hint = " (looks like an .npz archive; save a single array with np.save)" if zipfile.is_zipfile(path) else ""
        raise InputError(f"{name} file is not a .npy file{hint}: {path}")


def read_npy_header(path: str | os.PathLike, name: str = "array") -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype of a ``.npy`` file, read from its header alone (no data is read).

    The checks :func:`load_npy` makes before reading, with its one-line ``InputError`` messages: the file exists,
    is a ``.npy`` file with a readable header, holds no pickled objects, holds all the data its header promises,
    and that data fits in the memory available.
    """
    path = Path(path)
    _check_npy_file(path, name)
    try:
        with path.open("rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(fh)
            offset, size = fh.tell(), os.fstat(fh.fileno()).st_size
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise InputError(f"{name} file is corrupt or truncated ({exc}): {path}") from exc
    if dtype.hasobject:
        raise InputError(f"{name} file holds a pickled object array, expected numeric data: {path}")
    from amips.core.resources import check_fits

    promised = math.prod(shape) * dtype.itemsize
    if size - offset < promised:
        raise InputError(f"{name} file is corrupt or truncated: its header promises {promised} bytes of data "
                         f"(shape {shape}, {dtype}), the file has {size - offset}: {path}")
    check_fits(promised, f"reading {name} file {path} (shape {shape}, {dtype})")
    return shape, dtype


def validate_embeddings(array: np.ndarray, name: str, dim: int | None = None) -> np.ndarray:
    """Check that ``array`` is a finite, non-empty 2-D float matrix [n, d]; return it as float32.

    Integer and float64 arrays are converted to float32 (a float64 input loses precision, which is
    harmless for embeddings); complex, boolean and object arrays are rejected.

    Raises:
        InputError: naming ``name`` and the problem.
    """
    check_embedding_shape(tuple(array.shape), array.dtype, name, dim)
    out = np.asarray(array, dtype=np.float32)
    bad = ~np.isfinite(out)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise InputError(f"{name} contains NaN or Inf ({int(bad.sum())} values, first in row {row})")
    limit = overflow_limit(out.shape[1])
    peaks = np.abs(out).max(axis=1)
    if (peaks > limit).any():
        row = int(np.argmax(peaks > limit))
        raise InputError(f"{name} row {row} holds values up to {float(peaks[row]):.3g}: its inner products overflow "
                         f"float32 (every |value| must stay below {limit:.3g} at d = {out.shape[1]})")
    return out


def overflow_limit(dim: int) -> float:
    """The largest |value| of a d-dimensional row whose squared norm and inner products stay finite in float32,
    with a margin of 16 for the sums: d · limit² · 16 ≤ float32 max."""
    return float(np.sqrt(np.finfo(np.float32).max / (16.0 * dim)))


def check_embedding_shape(shape: tuple[int, ...], dtype: np.dtype, name: str, dim: int | None = None) -> None:
    """The checks of :func:`validate_embeddings` that need only the shape and dtype (those of a ``.npy`` header):
    a non-empty 2-D [n, d] numeric array, of dimension ``dim`` when given."""
    if dtype.kind not in "fiu":
        raise InputError(f"{name} must be a numeric float array, got dtype {dtype}")
    if len(shape) != 2:
        raise InputError(f"{name} must be 2-D [n, d], got shape {shape}")
    if shape[0] == 0 or shape[1] == 0:
        raise InputError(f"{name} is empty (shape {shape})")
    if dim is not None and shape[1] != dim:
        raise InputError(f"{name} has dimension {shape[1]} but the keys have dimension {dim}")


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


def check_distinct_paths(outputs: Mapping[str, str | os.PathLike], inputs: Mapping[str, str | os.PathLike],
                         folders: bool = False) -> None:
    """Refuse an output that is one of the inputs, or that would be written into an input folder.

    ``outputs``/``inputs`` map the option that names a path (``"--out"``, ``"--queries"``) to the path. An output
    is refused if it is an input (the same file or folder, by ``os.path.samefile``; an output that does not exist
    yet cannot be one) or, for file outputs (``folders=False``), if it lies directly in an input folder, whose files
    are inputs (``--out labels/test_targets.npy`` with ``--labels labels``). Folder outputs (``folders=True``) may
    be below an input folder (``--data data --out data/labels``).
    """
    for out_name, out in outputs.items():
        for in_name, inp in inputs.items():
            with contextlib.suppress(OSError):
                if os.path.samefile(out, inp):
                    raise InputError(f"{out_name} {out} is the {in_name} input {inp}: writing it would destroy the "
                                     "input; choose another output path")
            if not folders and os.path.isdir(inp) and _same_dir(os.path.dirname(os.path.realpath(out)), inp):
                raise InputError(f"{out_name} {out} is in the {in_name} folder {inp}, whose files are inputs: "
                                 f"writing it could destroy the input; choose an output path outside {inp}")


def _same_dir(a: str, b: str | os.PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


