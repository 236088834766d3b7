"""The package's architecture: wings in layers, imports only downward (or within a wing), no import cycles.

Every ``import amips…`` / ``from amips… import`` in ``src/amips`` counts — module level, inside functions and under
``TYPE_CHECKING`` alike — so a lazy import cannot hide an upward arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "amips"

# lowest first; a module may import its own wing and the wings below it
LAYERS = [
    "core", "data", "reporting", "models", "exact", "index", "evaluation", "training", "routing", "experiments",
    "pipeline", "api",
]
API = {"__init__", "cli", "estimator", "fit", "search"}  # the user's API: amips.fit, amips.search, amips.cli, …


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def wing(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in API:
        return "api"
    return parts[1]


def amips_imports(path: Path) -> set[str]:
    """Every amips module ``path`` imports (``from amips.x import y`` counts y when amips.x.y is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "amips"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "amips":
            found.add(node.module)
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                if _exists(candidate):
                    found.add(candidate)
    return found


def _exists(module: str) -> bool:
    base = PACKAGE.parent.joinpath(*module.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def graph() -> dict[str, set[str]]:
    return {module_name(p): {m for m in amips_imports(p) if m != module_name(p)} for p in PACKAGE.rglob("*.py")}


def test_every_module_sits_in_a_known_wing():
    assert {wing(m) for m in graph()} <= set(LAYERS)


def test_imports_point_down_or_within_the_wing():
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = sorted(f"{src} → {dst}" for src, targets in graph().items() for dst in targets
                    if rank[wing(dst)] > rank[wing(src)])
    assert not upward, "imports that point up a layer:\n" + "\n".join(upward)


def test_no_import_cycles():
    """No cycle between modules (a package's ``__init__`` re-exporting its own modules is not a cycle)."""
    edges = {src: {d for d in targets if not d.startswith(src + ".")} for src, targets in graph().items()}
    seen, stack, cycles = {}, [], []

    def visit(node: str) -> None:
        seen[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if seen.get(nxt) == "open":
                cycles.append(" → ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in seen:
                visit(nxt)
        stack.pop()
        seen[node] = "done"

    for node in sorted(edges):
        if node not in seen:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
