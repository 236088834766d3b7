"""The two error types a user sees as one line: an unusable input, an unwritable output (the CLI prints them)."""

from __future__ import annotations


class InputError(ValueError):
    """A user-supplied input (file, array, config value) is unusable; the message names it."""


class OutputError(OSError):
    """An output file cannot be written (permission denied, disk full, a parent is a file); the message names it."""

    def __str__(self) -> str:
        return str(self.strerror)
