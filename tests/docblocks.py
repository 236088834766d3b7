"""The fenced blocks of README.md and docs/*.md, by name, for the tests that run them.

A command block (```bash, ```python, ```yaml …) carries a name on the line before its fence,
``<!-- block: NAME -->`` (invisible on GitHub). A test runs it by asking for it by that literal name,
``doc_block("NAME")``; tests/docs/test_docs.py fails for every command block that no test asks for and that is not
listed there as not runnable, with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())

COMMAND_LANGUAGES = frozenset({"bash", "sh", "shell", "console", "python", "py", "yaml", "yml"})
OTHER_LANGUAGES = frozenset({"text"})  # printed output, diagrams, file trees: nothing to run
LABEL = re.compile(r"<!--\s*block:\s*([a-z0-9][a-z0-9-]*)\s*-->")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")


@dataclass(frozen=True)
class Block:
    name: str | None  # from the <!-- block: NAME --> line right before the fence
    language: str  # "" for a fence without one
    code: str
    path: Path
    line: int  # 1-based line of the opening fence

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO) if self.path.is_relative_to(REPO) else self.path}:{self.line}"


def doc_files(root: Path = REPO) -> list[Path]:
    """README.md and every page under docs/ (sub-folders included), README first."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def parse_blocks(text: str, path: Path) -> list[Block]:
    """Every fenced block of a Markdown text, with its name, language and code."""
    lines = text.splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, info = opening.groups()
        end = next((j for j in range(i + 1, len(lines))
                    if lines[j].strip().startswith(fence[0] * len(fence)) and not lines[j].strip().strip(fence[0])),
                   None)
        if end is None:
            raise AssertionError(f"{path}:{i + 1}: a fence that is never closed")
        before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        label = LABEL.fullmatch(before.strip())
        code = "\n".join(line[len(indent):] if line.startswith(indent) else line for line in lines[i + 1:end])
        found.append(Block(label.group(1) if label else None, info.strip().split(" ")[0].lower(), code + "\n",
                           path, i + 1))
        i = end + 1
    return found


def all_blocks(root: Path = REPO) -> list[Block]:
    return [block for path in doc_files(root) for block in parse_blocks(path.read_text(encoding="utf-8"), path)]


def doc_block(name: str) -> Block:
    """The one block named ``name`` in README.md or docs/*.md."""
    matches = [block for block in all_blocks() if block.name == name]
    assert len(matches) == 1, f"{len(matches)} blocks named {name!r} in README.md and docs/"
    return matches[0]
