"""One writer per output: an exclusive lock file ``.<name>.lock`` beside the output, held for the write.

The lock file is opened without following a symbolic link and never truncated on opening, so a planted link or
file cannot make a writer write into another file; the kernel releases the lock of a killed process.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from pathlib import Path
from typing import Iterator

from amips.core.errors import InputError
from amips.data.io import TEMP_NAME_BYTES, _UMASK, _output_error, _short_name

__all__ = ["exclusive_lock"]


def _open_lock(lock: Path, path: Path) -> int:
    """The lock file's descriptor, opened without following a symbolic link and never truncated on opening: a
    symlink or anything but a regular file planted at the lock's path is refused in one line (a lock must not
    write into another file)."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o666 & ~_UMASK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(f"the lock file {lock} of {path} is a symbolic link; remove it (amips never follows one "
                             "there)") from None
        raise _output_error(path, exc) from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InputError(f"the lock file {lock} of {path} is not a regular file; remove it")
    return fd


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, what: str) -> Iterator[None]:
    """Hold an exclusive lock on writing ``path`` (lock file ``.<name>.lock`` next to it, removed on exit).

    A second process asking for the same lock gets an ``InputError`` naming the holder's pid instead of silently
    racing it; the kernel releases the lock of a killed process, so a crash never leaves it held.
    """
    path = Path(path)
    lock = path.with_name(f".{_short_name(path.name, TEMP_NAME_BYTES)}.lock")
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _output_error(path, exc) from exc
    while True:
        fd = _open_lock(lock, path)
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
