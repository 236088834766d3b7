"""README.md as a landing page and docs/*.md as the manual: every command block run by some test, every relative
link resolving, the config reference equal to the schema."""

from __future__ import annotations

import ast
import importlib.util
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from docblocks import COMMAND_LANGUAGES, OTHER_LANGUAGES, REPO, Block, all_blocks, doc_block, doc_files, parse_blocks

README_MAX_LINES = 200

# Command blocks that no test runs, each with the reason. A block named here must exist; a block that a test runs
# must not be named here. Add an entry only for what cannot run in the suite (a SLURM cluster, a medium-scale run).
NOT_RUNNABLE: dict[str, str] = {}

# ------------------------------------------------------------------------------------- which test runs which block


def consumers(test_root: Path = REPO / "tests") -> dict[str, list[str]]:
    """Block name → the test files that ask for it by its literal name: ``doc_block("NAME")`` in their source."""
    found: dict[str, list[str]] = {}
    for path in sorted(test_root.rglob("*.py")):
        if path.name == "docblocks.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            arg = node.args[0]
            if name == "doc_block" and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.setdefault(arg.value, []).append(str(path.relative_to(REPO) if path.is_relative_to(REPO) else path))
    return found


def block_problems(blocks: list[Block], run: dict[str, list[str]], not_runnable: dict[str, str]) -> list[str]:
    """Everything wrong with the docs' blocks: an unknown language, an unnamed or twice-named command block, a
    command block that no test runs and that is not listed as not runnable, a stale or empty listing."""
    problems = []
    names = [block.name for block in blocks if block.name]
    for name in sorted({name for name in names if names.count(name) > 1}):
        problems.append(f"two blocks are named {name!r}: " + ", ".join(b.where for b in blocks if b.name == name))
    for block in blocks:
        if block.language not in COMMAND_LANGUAGES | OTHER_LANGUAGES:
            problems.append(f"{block.where}: fence language {block.language!r} is neither a command language "
                            f"({', '.join(sorted(COMMAND_LANGUAGES))}) nor output ({', '.join(sorted(OTHER_LANGUAGES))})")
        elif block.language in COMMAND_LANGUAGES and not block.name:
            problems.append(f"{block.where}: a ```{block.language} block without a name: put <!-- block: NAME --> "
                            "on the line before it and run it in a test with doc_block(\"NAME\")")
        elif block.language in COMMAND_LANGUAGES and block.name not in run and block.name not in not_runnable:
            problems.append(f"{block.where}: block {block.name!r} is run by no test (doc_block({block.name!r})) and "
                            "not listed in NOT_RUNNABLE with a reason")
    commands = {block.name for block in blocks if block.name and block.language in COMMAND_LANGUAGES}
    for name, reason in not_runnable.items():
        if name not in commands:
            problems.append(f"NOT_RUNNABLE names {name!r}, which is no command block of README.md or docs/")
        elif name in run:
            problems.append(f"NOT_RUNNABLE names {name!r}, which {', '.join(run[name])} runs")
        if not reason.strip():
            problems.append(f"NOT_RUNNABLE gives no reason for {name!r}")
    for name, files in run.items():
        if name not in {block.name for block in blocks}:
            problems.append(f"{', '.join(files)} asks for block {name!r}, which README.md and docs/ do not have")
    return problems


def test_every_command_block_is_run_by_a_test_or_listed_with_a_reason():
    blocks = all_blocks()
    assert {block.path.name for block in blocks} >= {"README.md", "user-guide.md"}  # the parser found the blocks
    assert block_problems(blocks, consumers(), NOT_RUNNABLE) == []


def test_the_block_check_cannot_pass_silently(tmp_path):
    """A new command block fails the check unless a test asks for it by name or it is listed as not runnable."""
    page = tmp_path / "page.md"
    page.write_text("# t\n\n```bash\namips fit\n```\n\n<!-- block: named -->\n```python\nx = 1\n```\n\n"
                    "```text\noutput\n```\n\n```json\n{}\n```\n\n```\nplain\n```\n", encoding="utf-8")
    blocks = parse_blocks(page.read_text(encoding="utf-8"), page)
    assert [(b.name, b.language) for b in blocks] == [(None, "bash"), ("named", "python"), (None, "text"),
                                                     (None, "json"), (None, "")]
    problems = block_problems(blocks, {}, {})
    assert len(problems) == 4  # the unnamed bash block, the unrun python block, json and the untagged fence
    assert any("without a name" in p for p in problems) and any("'named' is run by no test" in p for p in problems)
    assert sum("neither a command language" in p for p in problems) == 2
    assert len(block_problems(blocks[1:2], {"named": ["tests/test_x.py"]}, {})) == 0
    assert len(block_problems(blocks[1:2], {}, {"named": "needs a cluster"})) == 0
    assert len(block_problems(blocks[1:2], {}, {"named": " "})) == 1  # a reason is required
    assert len(block_problems(blocks[1:2], {"named": ["t.py"]}, {"named": "x"})) == 1  # run and exempt: stale
    assert len(block_problems(blocks[1:2], {"gone": ["t.py"]}, {})) == 2  # 'named' unrun, 'gone' missing


def test_consumers_count_only_literal_names(tmp_path):
    """A name held in a variable is no evidence that the block runs: only ``doc_block("literal")`` counts."""
    (tmp_path / "test_a.py").write_text('from docblocks import doc_block\n\ndef test_a():\n    doc_block("one")\n'
                                        'NAME = "two"\ndef test_b():\n    doc_block(NAME)\n')
    assert consumers(tmp_path) == {"one": [str(tmp_path / "test_a.py")]}


def test_the_walkthrough_blocks_have_their_consumers():
    found = consumers()
    assert "own-data" in found and "own-data-pipeline" in found
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9-]*", name) for name in found)


# ------------------------------------------------------------------------------------------------- the quick start


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_quick_start_commands_are_the_makefile_targets():
    """The two commands of the README, dry-run: `make run` starts snakemake, `make test` starts pytest (the real
    runs are this suite itself, .ci/run, and tests/workflow/test_workflow.py's Snakefile run on the tiny config)."""
    block = doc_block("quick-start")
    commands = [shlex.split(line, comments=True) for line in block.code.splitlines() if line.strip()]
    assert [c[:2] for c in commands] == [["make", "run"], ["make", "test"]]
    expected = {"run": "bin/snakemake", "test": "bin/python -m pytest"}
    for command in commands:
        assert len(command) == 2, command  # no extra arguments that the dry run would not check
        dry = subprocess.run(["make", "-n", "-W", ".venv/.amips-installed", command[1]], cwd=REPO,
                             capture_output=True, text=True, timeout=60)
        assert dry.returncode == 0, dry.stderr
        assert expected[command[1]] in dry.stdout, dry.stdout


# --------------------------------------------------------------------------------------------- landing page, links


def test_readme_is_a_landing_page():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def _prose(text: str) -> str:
    """The text outside fenced blocks, HTML comments and inline code."""
    kept, fence = [], None
    for line in text.splitlines():
        opening = re.match(r"^\s*(`{3,}|~{3,})", line)
        if fence is None and opening:
            fence = opening.group(1)[0] * len(opening.group(1))
            kept.append("")
            continue
        if fence is not None:
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = None
            kept.append("")
            continue
        kept.append(line)
    prose = re.sub(r"<!--.*?-->", "", "\n".join(kept), flags=re.S)
    return re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", prose, flags=re.S)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for match in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", _raw_headings(path), flags=re.M):
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def _raw_headings(path: Path) -> str:
    """The file with inline code kept in headings (their text is part of the anchor), fenced blocks blanked."""
    text = path.read_text(encoding="utf-8")
    headings = {i: line for i, line in enumerate(text.splitlines()) if line.startswith("#")}
    blanked = _prose(text).splitlines()
    for i, line in headings.items():
        if i < len(blanked) and blanked[i].startswith("#"):
            blanked[i] = line
    return "\n".join(blanked)


def links(path: Path) -> list[str]:
    """The targets of the Markdown links of a file, outside code."""
    return re.findall(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", _prose(path.read_text(encoding="utf-8")))


def test_slug_follows_github():
    assert slug("Quick start (two commands on a fresh machine)") == "quick-start-two-commands-on-a-fresh-machine"
    assert slug("Results on real text (WordNet-50k, MiniLM, `make medium`)") == \
        "results-on-real-text-wordnet-50k-minilm-make-medium"
    assert slug("Results of the default run (m = 5000, fraction 0.1)") == "results-of-the-default-run-m--5000-fraction-01"


@pytest.mark.parametrize("page", doc_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    assert links(page), f"{page.name} links nowhere"
    broken = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: …
            continue
        file_part, _, fragment = target.partition("#")
        resolved = (page.parent / file_part).resolve() if file_part else page
        if not resolved.exists():
            broken.append(f"{target}: no file {resolved}")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            broken.append(f"{target}: no heading #{fragment} in {resolved.relative_to(REPO)}")
    assert broken == [], f"{page.relative_to(REPO)}: " + "; ".join(broken)


def test_every_docs_page_is_reached_from_the_readme():
    linked = {(REPO / target.partition("#")[0]).resolve() for target in links(REPO / "README.md")}
    pages = set(doc_files()[1:])
    assert pages <= linked, f"docs pages the README does not link: {sorted(p.name for p in pages - linked)}"


# ------------------------------------------------------------------------------------------------ config reference


def test_config_reference_equals_the_schema():
    spec = importlib.util.spec_from_file_location("config_reference", REPO / "docs" / "config_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = (REPO / "docs" / "config-reference.md").read_text(encoding="utf-8")
    assert page == module.render(module.load_schema()), "run: python docs/config_reference.py"
    schema = module.load_schema()
    for section in schema["properties"]:  # every section has its table
        assert f"\n## `{section}`\n" in page
