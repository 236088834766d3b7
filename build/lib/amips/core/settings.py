"""Building frozen settings dataclasses from config mappings, with unknown keys named in the error."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def from_mapping(cls: type[T], values: dict[str, Any], what: str) -> T:
    """``cls(**values)``, rejecting keys that are not fields of ``cls`` (``what`` names the section)."""
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {what} setting(s) {unknown}; known: {sorted(known)}")
    return cls(**values)
