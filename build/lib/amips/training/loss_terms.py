"""Optional terms of the training loss, configured as ``{name, weight, <the term's own settings>}``.

A family of terms is a registry ``name → dataclass`` (its fields are the term's settings, checked in
``__post_init__``); :func:`make_term` turns one config mapping into a :class:`ConfiguredTerm`, or None when the
mapping is absent, empty or names ``none``. Used by :mod:`amips.training.retrieval` (``training.retrieval``) and
:mod:`amips.training.routing_terms` (``training.routing``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Callable


@dataclass(frozen=True)
class ConfiguredTerm:
    """A configured loss term (a callable of its registry) and its weight in the loss."""

    name: str
    weight: float
    term: Any


def uses_term(cfg: dict[str, Any] | None) -> bool:
    """Whether a term mapping turns a term on (None, {} and name none do not)."""
    return bool(cfg) and cfg.get("name", "none") != "none"


def check_positive(where: str, name: str, value: float) -> None:
    """ValueError naming ``where.name`` unless ``value`` is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{where}.{name} must be a finite number > 0, got {value!r}")


def make_term(cfg: dict[str, Any] | None, registry: dict[str, Callable[..., Any]], where: str) -> ConfiguredTerm | None:
    """The term of ``registry`` configured by ``cfg`` (``where`` names the config key in errors, e.g.
    ``training.retrieval``); weight defaults to 1.

    Raises ValueError naming the unknown term or setting, or the out-of-range value.
    """
    if cfg is not None and not isinstance(cfg, dict):
        raise ValueError(f"{where} must be a mapping, got {cfg!r}")
    if not uses_term(cfg):
        return None
    name = cfg.get("name")
    if name not in registry:
        raise ValueError(f"unknown {where}.name {name!r}; choose one of {['none', *sorted(registry)]}")
    factory = registry[name]
    known = {f.name for f in fields(factory)}  # type: ignore[arg-type]
    params = {k: v for k, v in cfg.items() if k not in ("name", "weight")}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"unknown {where} setting(s) {unknown} for {name}; known: {sorted(known | {'name', 'weight'})}")
    weight = cfg.get("weight", 1.0)
    check_positive(where, "weight", weight)
    return ConfiguredTerm(name, float(weight), factory(**params))
