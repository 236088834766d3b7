"""Configs that cannot hurt: bounded size, names that stay inside results/ and paper_figures/, finite numbers.

Run on a loaded config before the JSON schema (by ``amips check-config`` and by the Snakefile, whose config
Snakemake loads itself): :func:`check_expansion` refuses a YAML alias bomb (a few hundred bytes whose aliases
expand to 10^8 nodes) by counting expanded nodes over the shared objects, in time linear in the distinct ones;
:func:`check_names` refuses a run, dataset or model name that would leave its folder or exceed the file-name
limit; :func:`check_finite` refuses NaN and ±Inf (YAML ``.nan``, ``.inf``), which JSON schema bounds let through.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Iterator, Sequence

from amips.data.io import InputError

MAX_NODES = 10**6  # expanded YAML nodes (scalars, lists, mappings) of a config; real configs hold about 10^3
# The run name names paper_figures/<name>/ and results/tables/<name>/; dataset and model names are folders of
# results/ matched by the workflow's wildcards (no dot). 1-100 characters, starting with a letter or digit.
RUN_NAME_PATTERN = r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
ENTRY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$"
NAMED_SECTIONS = ("datasets", "models")


def expanded_size(root: Any, children: Callable[[Any], Sequence[Any]], what: str, budget: int = MAX_NODES) -> int:
    """Nodes of ``root`` with every shared child counted at each place it appears (as the expanded document).

    Each distinct node is visited once (iteratively: no recursion limit), so a bomb costs its own size, not its
    expansion. Raises ``InputError`` naming ``what`` past ``budget`` nodes or on a node that contains itself.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            active.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children(node))
            if sizes[key] > budget:
                raise InputError(f"{what} expands to more than {budget} nodes through its YAML aliases (an alias "
                                 "bomb?); write the values out")
        elif key in active:
            raise InputError(f"{what} contains itself through a recursive YAML alias")
        elif key not in sizes:
            active.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in children(node))
    return sizes[id(root)]


def object_children(value: Any) -> Sequence[Any]:
    """Children of a loaded config value: a mapping's keys and values, a list's items; none for a scalar."""
    if isinstance(value, dict):
        return [*value.keys(), *value.values()]
    return value if isinstance(value, list) else ()


def check_expansion(config: dict[str, Any]) -> None:
    """Refuse a loaded config larger than :data:`MAX_NODES` once its shared values are expanded."""
    expanded_size(config, object_children, "config")


def check_names(config: dict[str, Any]) -> None:
    """The run name and every dataset and model name are plain file names (see the patterns above)."""
    rule = "1-100 letters, digits, '_' or '-', starting with a letter or digit"
    name = config.get("name")
    if name is not None and not (isinstance(name, str) and re.match(RUN_NAME_PATTERN, name)):
        raise InputError(f"config name {_shown(name)} cannot be a folder of paper_figures/: use {rule} (or '.', "
                         "never '..')")
    for section in NAMED_SECTIONS:
        entries = config.get(section)
        for key in entries if isinstance(entries, dict) else ():
            if not (isinstance(key, str) and re.match(ENTRY_NAME_PATTERN, key)):
                raise InputError(f"config {section}: the name {_shown(key)} cannot be a folder of results/: use "
                                 f"{rule}")


def _shown(value: Any) -> str:
    """``repr(value)``, cut to 60 characters with its length when longer."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:50]}... ({len(text)} characters)"


def _leaves(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    """(dotted place, value) of every scalar under ``value``."""
    stack = [(where, value)]
    while stack:
        place, node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else None
        if items is None:
            yield place, node
        else:
            stack.extend((f"{place}.{key}" if place else str(key), child) for key, child in items)


def check_finite(config: dict[str, Any]) -> None:
    """Every number of the config is finite: no NaN or ±Inf anywhere."""
    for place, value in _leaves(config, ""):
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"config {place}: {value} is not a finite number")


def check_loaded(config: dict[str, Any]) -> None:
    """The checks of this module, cheapest first; run before the schema (which would walk a bomb)."""
    check_expansion(config)
    check_names(config)
    check_finite(config)
