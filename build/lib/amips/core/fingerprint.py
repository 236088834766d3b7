"""Content fingerprints: what a result was computed from, so that stale state is never reused silently.

* :func:`array_digest` — SHA-256 of an array's dtype, shape and bytes (a content digest, not a path);
* :func:`tensors_digest` — SHA-256 over a ``state_dict`` (names, dtypes, shapes, bytes, in name order), stored in
  every model file so that a file whose weight bytes changed (bit flips, truncation inside a tensor) is refused;
* :func:`first_difference` — the dotted name of the first field where two fingerprints (nested dicts) differ.
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping

import numpy as np
import torch

_CHUNK = 1 << 24  # bytes hashed per update (a memory-mapped array is read piecewise)


def array_digest(array: np.ndarray) -> str:
    """``sha256:<hex>`` of dtype, shape and the C-order bytes of ``array`` (memory-mapped arrays read in chunks)."""
    h = hashlib.sha256(f"{np.dtype(array.dtype).str}{tuple(array.shape)}".encode())
    flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8) if array.size else np.empty(0, np.uint8)
    for start in range(0, flat.size, _CHUNK):
        h.update(memoryview(flat[start : start + _CHUNK]))
    return "sha256:" + h.hexdigest()


def tensors_digest(state: Mapping[str, torch.Tensor]) -> str:
    """``sha256:<hex>`` over every tensor of ``state`` (name, dtype, shape, bytes), in sorted name order."""
    h = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        h.update(tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return "sha256:" + h.hexdigest()


def first_difference(expected: Any, found: Any, prefix: str = "") -> str | None:
    """Dotted path of the first field (sorted key order) where ``found`` differs from ``expected``; None if equal.

    Nested mappings are compared key by key; a key present on one side only counts as a difference.
    """
    if isinstance(expected, Mapping) and isinstance(found, Mapping):
        for key in sorted(set(expected) | set(found), key=str):
            where = f"{prefix}.{key}" if prefix else str(key)
            if key not in expected or key not in found:
                return where
            diff = first_difference(expected[key], found[key], where)
            if diff is not None:
                return diff
        return None
    return None if _same(expected, found) else (prefix or "(value)")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and bool(a == b)


def lookup(mapping: Mapping[str, Any], dotted: str) -> Any:
    """The value at ``dotted`` (as returned by :func:`first_difference`), or ``'(absent)'``."""
    node: Any = mapping
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return "(absent)"
        node = node[part]
    return node
