"""Each idea in one place (issue 26): a config default is written once, in the schema; modules and functions small.

A ``.get("key", literal)`` whose literal is the schema's default of a property named ``key`` restates that default:
the code reads the filled config instead (amips.core.schema.section / with_defaults, or the config Snakemake
validated). The check is by name, so it also catches a literal that merely equals another section's default of the
same name: rename or read it from where it is defined.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
SMK_GET = re.compile(r'\.get\(\s*"([A-Za-z_0-9]+)"\s*,\s*([^()]*?|\{\}|\[\])\s*\)')


def schema_defaults(node: object, found: dict[str, list] | None = None) -> dict[str, list]:
    """property name → every ``default:`` the schema gives a property of that name."""
    found = {} if found is None else found
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            if isinstance(prop, dict) and "default" in prop:
                found.setdefault(name, []).append(prop["default"])
        for value in node.values():
            schema_defaults(value, found)
    elif isinstance(node, list):
        for value in node:
            schema_defaults(value, found)
    return found


def literal_gets(path: Path) -> list[tuple[int, str, object]]:
    """(line, key, literal) of every ``.get("key", literal)`` in a Python file or a Snakemake file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        hits = []
        for node in ast.walk(ast.parse(text)):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                    and len(node.args) == 2 and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                try:
                    hits.append((node.lineno, node.args[0].value, ast.literal_eval(node.args[1])))
                except ValueError:
                    pass  # not a literal: a variable or a call
        return hits
    hits = []
    for number, line in enumerate(text.splitlines(), 1):
        for match in SMK_GET.finditer(line):
            try:
                hits.append((number, match.group(1), ast.literal_eval(match.group(2))))
            except (ValueError, SyntaxError):
                pass
    return hits


def code_files() -> list[Path]:
    return sorted([*(REPO / "src").rglob("*.py"), *(REPO / "workflow").rglob("*.py"),
                   *(REPO / "workflow").rglob("*.smk"), REPO / "Snakefile"])


def restated_defaults(files: list[Path]) -> list[str]:
    defaults = schema_defaults(yaml.safe_load(SCHEMA.read_text(encoding="utf-8")))
    return [f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}:{line}: .get({key!r}, {value!r})"
            for path in files for line, key, value in literal_gets(path) if value in defaults.get(key, [])]


def test_no_get_default_restates_a_schema_default():
    found = restated_defaults(code_files())
    assert not found, "read these from the filled config (amips.core.schema):\n" + "\n".join(found)


def test_the_scan_finds_a_restated_default(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('def f(cfg):\n    return cfg.get("noise_copies", 4), cfg.get("noise_copies", 7), cfg.get("x", 4)\n')
    rule = tmp_path / "r.smk"
    rule.write_text('K = config.get("labels", {}).get("query_norms", "unit")\n')
    found = restated_defaults([module, rule])
    assert [f.split(": ", 1)[1] for f in found] == [".get('noise_copies', 4)", ".get('labels', {})",
                                                     ".get('query_norms', 'unit')"]


def test_modules_and_functions_are_small():
    big_modules, big_functions = [], []
    for path in sorted((REPO / "src").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_MODULE_LINES:
            big_modules.append(f"{path.relative_to(REPO)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    big_functions.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}: {length} lines")
    assert not big_modules, big_modules
    assert not big_functions, big_functions


def test_every_api_module_declares_its_names():
    """The user's API modules (amips, amips.estimator, amips.fit, amips.search) say what they export."""
    for name in ("__init__", "estimator", "fit", "search"):
        tree = ast.parse((REPO / "src" / "amips" / f"{name}.py").read_text(encoding="utf-8"))
        assert any(isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets)
                   for node in tree.body), name
