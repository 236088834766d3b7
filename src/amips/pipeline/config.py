"""Check a pipeline configuration before running it: everything a job would trip over later.

Snakemake validates the schema when the workflow starts, but the schema cannot see everything: names a sweep uses
that no section defines, per-model ``training:`` overrides, float values where an integer is needed (JSON schema
counts 300.0 as an integer), generator options, cluster or list counts above the key count, a batch larger than the
training split, duplicate YAML keys. :func:`check_semantics` checks those (the workflow calls it when it starts, so
``snakemake`` fails before any job with the same message), and :func:`check_config` runs the limits of
:mod:`amips.pipeline.config_limits` (alias bombs, names that would leave results/, NaN/Inf) + schema + semantics + the files of
every ``source: npy`` dataset + the memory estimate of :mod:`amips.pipeline.config_memory`, with one-line errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import yaml

from amips.pipeline.config_limits import check_loaded, expanded_size
from amips.core.schema import SCHEMA, validate_config, with_defaults
from amips.data.sets import load_key_query_files
from amips.data.io import InputError
from amips.pipeline.sweeps import homogenization_report



def merge_configs(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``overlay`` on top of ``base``: mappings merge key by key, anything else is replaced (as Snakemake merges
    several ``--configfile`` files)."""
    out = dict(base)
    for key, value in overlay.items():
        both_mappings = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merge_configs(out[key], value) if both_mappings else value
    return out


class _ConfigLoader(yaml.SafeLoader):
    """SafeLoader that rejects a mapping holding the same key twice (PyYAML silently keeps the last one) and a
    document expanding to more than :data:`amips.pipeline.config_limits.MAX_NODES` nodes through its aliases (checked on the
    composed node graph, before anything is constructed: merge keys ``<<`` would copy)."""

    def compose_document(self) -> yaml.Node:
        node = super().compose_document()
        expanded_size(node, _node_children, "the document")
        return node


def _node_children(node: yaml.Node) -> list[yaml.Node]:
    """A composed YAML node's children: a mapping's keys and values, a sequence's items."""
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _construct_unique_mapping(loader: _ConfigLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_ConfigLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def load_config(paths: Sequence[str | Path]) -> dict[str, Any]:
    """Read YAML config files (a key repeated in one mapping, or an alias bomb, is an error) and merge them in
    order."""
    config: dict[str, Any] = {}
    for path in paths:
        try:
            data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_ConfigLoader)
        except FileNotFoundError as exc:
            raise InputError(f"config file not found: {path}") from exc
        except InputError as exc:
            raise InputError(f"config file {path}: {exc}") from exc
        except RecursionError as exc:
            raise InputError(f"config file {path} is nested too deeply") from exc
        except yaml.YAMLError as exc:
            reason = " ".join(str(exc).split())
            raise InputError(f"config file {path} is not valid YAML ({reason})") from exc
        if not isinstance(data, dict):
            raise InputError(f"config file {path} must hold a mapping (key: value), got {type(data).__name__}")
        config = merge_configs(config, data)
    return config


def check_npy_datasets(config: dict[str, Any]) -> list[str]:
    """Load and validate the files of every ``source: npy`` dataset; one description line per dataset."""
    lines = []
    for name, spec in config.get("datasets", {}).items():
        if spec.get("source") != "npy":
            continue
        try:
            ds = load_key_query_files(spec["keys"], spec["queries"])
        except InputError as exc:
            raise InputError(f"dataset {name!r}: {exc}") from exc
        lines.append(f"dataset {name!r}: {ds.keys.shape[0]} keys, {ds.queries.shape[0]} queries, d = {ds.dim}")
    return lines


def check_config(paths: Sequence[str | Path], root: str | Path = ".") -> list[str]:
    """Merge, validate and check ``paths`` (see the module docstring), and the run name against the runs recorded
    under ``root`` (the directory Snakemake would run in); returns a short report, one line each."""
    from amips.pipeline.config_memory import check_memory
    from amips.pipeline.run_names import check_run_name

    config = load_config(paths)
    check_loaded(config)
    config = with_defaults(config)  # validated, with the schema's defaults (as the workflow sees it)
    lines = check_npy_datasets(config)
    check_semantics(config)
    check_memory(config)
    check_run_name(config, root)
    return lines + homogenization_report(config)


def check_semantics(config: dict[str, Any]) -> None:
    """Raise ``InputError`` (naming the config entry) for the errors the schema cannot see; see the module doc."""
    from amips.pipeline.config_checks import run_checks

    run_checks(config)
