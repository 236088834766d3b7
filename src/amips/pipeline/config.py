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

import copy
from pathlib import Path
from typing import Any, Sequence

import yaml

from amips.pipeline.config_limits import check_loaded, expanded_size
from amips.data.sets import load_key_query_files
from amips.data.io import InputError
from amips.training.sweeps import homogenization_report

SCHEMA = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"


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


def _schema(schema_path: str | Path = SCHEMA) -> dict[str, Any]:
    schema_path = Path(schema_path)
    if not schema_path.is_file():
        raise InputError(f"config schema not found: {schema_path} (check-config needs a clone of the repository)")
    return yaml.safe_load(schema_path.read_text(encoding="utf-8"))


def _filling_validator(schema: dict[str, Any]) -> Any:
    """A validator of ``schema`` that also writes each missing property's ``default:`` into the instance, as
    Snakemake's ``validate(config, schema)`` does (the jsonschema recipe: defaults set before descending, so a
    section defaulted to ``{}`` gets its own properties' defaults)."""
    import jsonschema

    base = jsonschema.validators.validator_for(schema)
    check_properties = base.VALIDATORS["properties"]

    def fill_then_check(validator: Any, properties: dict[str, Any], instance: Any, subschema: dict[str, Any]) -> Any:
        if isinstance(instance, dict):
            for name, prop in properties.items():
                if isinstance(prop, dict) and "default" in prop:
                    instance.setdefault(name, copy.deepcopy(prop["default"]))
        yield from check_properties(validator, properties, instance, subschema)

    return jsonschema.validators.extend(base, {"properties": fill_then_check})(schema)


def validate_config(config: dict[str, Any], schema_path: str | Path = SCHEMA) -> None:
    """Raise ``InputError`` naming the offending key when ``config`` does not match the JSON schema."""
    import jsonschema

    schema = _schema(schema_path)
    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        where = ".".join(str(part) for part in error.absolute_path) or "top level"
        raise InputError(f"invalid config at {where}: {error.message}")


def with_defaults(config: dict[str, Any], schema_path: str | Path = SCHEMA) -> dict[str, Any]:
    """A validated copy of ``config`` with every schema default filled in — the one place a default is written is
    the schema; code reads the filled config (or its typed sections, :mod:`amips.pipeline.sections`)."""
    validate_config(config, schema_path)
    filled = copy.deepcopy(config)
    for _ in _filling_validator(_schema(schema_path)).iter_errors(filled):
        pass  # validated above; iterating fills the defaults
    return filled


def section_with_defaults(config: dict[str, Any], name: str, schema_path: str | Path = SCHEMA) -> dict[str, Any]:
    """The top-level section ``name`` of ``config`` (absent: empty), validated against its part of the schema and
    with that part's defaults filled in; ``InputError`` naming ``name`` when it does not match."""
    import jsonschema

    schema = _schema(schema_path)
    part = {**schema["properties"][name], "$defs": schema.get("$defs", {})}
    section = copy.deepcopy(config[name]) if name in config else {}
    error = jsonschema.exceptions.best_match(jsonschema.validators.validator_for(schema)(part).iter_errors(section))
    if error is not None:
        where = ".".join([name, *(str(p) for p in error.absolute_path)])
        raise InputError(f"invalid config at {where}: {error.message}")
    for _ in _filling_validator({**part, "$schema": schema["$schema"]}).iter_errors(section):
        pass  # validated above; iterating fills the defaults
    return section


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


def check_config(paths: Sequence[str | Path]) -> list[str]:
    """Merge, validate and check ``paths`` (see the module docstring); returns a short report, one line each."""
    from amips.pipeline.config_memory import check_memory

    config = load_config(paths)
    check_loaded(config)
    validate_config(config)
    lines = check_npy_datasets(config)
    check_semantics(config)
    check_memory(config)
    return lines + homogenization_report(config)


def check_semantics(config: dict[str, Any]) -> None:
    """Raise ``InputError`` (naming the config entry) for the errors the schema cannot see; see the module doc."""
    from amips.pipeline.config_checks import run_checks

    run_checks(config)
