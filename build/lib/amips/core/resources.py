"""Fail fast on sizes that cannot fit in memory, with the estimate and the memory available.

Estimates are Python integers (no overflow, whatever the inputs) of the largest arrays a step allocates.
"""

from __future__ import annotations

import os

from amips.core.errors import InputError


def available_memory() -> int:
    """Bytes of memory available to a new allocation: ``MemAvailable`` of /proc/meminfo (else free pages)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def format_bytes(count: int) -> str:
    """``count`` bytes as a short human-readable string (binary units)."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:.3g} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def check_fits(nbytes: int, what: str) -> None:
    """Raise ``InputError`` if ``nbytes`` (an estimate of what ``what`` allocates) exceeds the available memory."""
    available = available_memory()
    if nbytes > available:
        raise InputError(f"{what} needs about {format_bytes(nbytes)} of memory but {format_bytes(available)} is "
                         "available; use smaller sizes")


def training_bytes(num_parameters: int, batch_size: int, width: int, depth: int, dim: int, train_rows: int) -> int:
    """Estimate for training: weights, gradients, two Adam moments and the EMA copy (5 × 4 bytes a parameter),
    activations of a double-backward step (~6 floats per hidden unit and input entry of the batch), and the
    training queries [N, d] held as a tensor."""
    return 20 * num_parameters + 24 * batch_size * (width * depth + dim) + 4 * train_rows * dim
