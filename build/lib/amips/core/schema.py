"""The config schema: the one place a default is written, and the validation every reader shares.

``validate_config`` refuses what the JSON schema refuses (one line naming the key); ``with_defaults`` and
``section`` return copies with every missing property's ``default:`` filled in, as Snakemake's
``validate(config, schema)`` fills the workflow's config, so code reads ``section["key"]`` and never restates a
default with ``.get(key, literal)``.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

from amips.core.errors import InputError

__all__ = ["SCHEMA", "load_schema", "validate_config", "with_defaults", "section", "defaults"]

# package data: a link to workflow/schemas/config.schema.yaml in the repository, a copy in an installed wheel
SCHEMA = Path(__file__).resolve().parent / "resources" / "config.schema.yaml"


def load_schema(schema_path: str | Path = SCHEMA) -> dict[str, Any]:
    """The schema as a mapping, read once per process and shared: do not modify it."""
    return _load(Path(schema_path).resolve())


@functools.lru_cache(maxsize=4)
def _load(schema_path: Path) -> dict[str, Any]:
    if not schema_path.is_file():
        raise InputError(f"config schema not found: {schema_path}")
    return yaml.safe_load(schema_path.read_text(encoding="utf-8"))


def _filling_validator(schema: dict[str, Any]) -> Any:
    """A validator of ``schema`` that also writes each missing property's ``default:`` into the instance (the
    jsonschema recipe Snakemake uses: defaults set before descending, so a section defaulted to ``{}`` gets its own
    properties' defaults)."""
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


def _check(instance: Any, schema: dict[str, Any], where: str) -> None:
    import jsonschema

    error = jsonschema.exceptions.best_match(jsonschema.validators.validator_for(schema)(schema).iter_errors(instance))
    if error is not None:
        path = ".".join([p for p in (where, *(str(part) for part in error.absolute_path)) if p]) or "top level"
        raise InputError(f"invalid config at {path}: {error.message}")


def _fill(instance: Any, schema: dict[str, Any]) -> Any:
    filled = copy.deepcopy(instance)
    for _ in _filling_validator(schema).iter_errors(filled):
        pass  # iterating the validator is what fills the defaults
    return filled


def validate_config(config: dict[str, Any], schema_path: str | Path = SCHEMA) -> None:
    """Raise ``InputError`` naming the offending key when ``config`` does not match the JSON schema."""
    _check(config, load_schema(schema_path), "")


def with_defaults(config: dict[str, Any], schema_path: str | Path = SCHEMA, validate: bool = True) -> dict[str, Any]:
    """A copy of ``config`` (validated unless ``validate`` is false) with every schema default filled in."""
    schema = load_schema(schema_path)
    if validate:
        _check(config, schema, "")
    return _fill(config, schema)


def section(path: str, values: dict[str, Any] | None = None, schema_path: str | Path = SCHEMA,
            validate: bool = True) -> dict[str, Any]:
    """The config section at dotted ``path`` (``"labels"``, ``"experiments.ivf"``; ``*`` for an entry of a named
    mapping: ``"datasets.*"``) holding ``values`` (None: an empty section), validated against its part of the
    schema (unless ``validate`` is false: a part of a config validated as a whole) and with that part's defaults
    filled in."""
    schema = load_schema(schema_path)
    part = schema
    for name in path.split("."):
        try:
            part = part["additionalProperties"] if name == "*" else part["properties"][name]
        except (KeyError, TypeError):
            raise InputError(f"the config schema has no section {path!r}") from None
    part = {**part, "$schema": schema["$schema"], "$defs": schema.get("$defs", {})}
    instance = {} if values is None else values
    if validate:
        _check(instance, part, path)
    return _fill(instance, part)


def defaults(*paths: str, schema_path: str | Path = SCHEMA) -> dict[str, Any]:
    """The schema's defaults of the sections at ``paths``, merged in order: the base of a settings mapping that
    mixes sections (e.g. the IVF section with one experiment's), ``{**defaults(...), **settings}``."""
    merged: dict[str, Any] = {}
    for path in paths:
        merged.update(section(path, None, schema_path, validate=False))
    return merged
