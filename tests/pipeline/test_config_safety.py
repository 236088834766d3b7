"""Configs that cannot hurt (amips.pipeline.config_limits, amips.pipeline.config_memory): names that would leave results/ or
paper_figures/, YAML alias bombs, NaN/Inf, sizes that cannot fit in memory, warm-ups longer than training."""

from __future__ import annotations

import copy
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from amips.pipeline.config import SCHEMA, load_config, validate_config
from amips.pipeline.config_limits import ENTRY_NAME_PATTERN, RUN_NAME_PATTERN
from amips.data.io import InputError
from clitools import REPO, run

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
BASE: dict[str, Any] = {
    "datasets": {"syn": {"source": "structured", "num_keys": 300, "num_queries": 100, "dim": 8}},
    "labels": {"noise_copies": 1},
    "models": {"keynet": {"kind": "keynet", "depth": 2}},
    "training": {"steps": 10, "batch_size": 16, "lr_peak": 0.001},
    "sweep": {"datasets": ["syn"], "models": ["keynet"], "seeds": [0]},
    "experiments": {"ivf": {"enabled": True}},
}


def _error(capsys, tmp_path: Path, config: dict[str, Any]) -> str:
    """The one error line of ``amips check-config`` on ``config``."""
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run(capsys, "check-config", path)
    errors = [line for line in result.err.splitlines() if line.startswith("amips: error: ")]
    assert result.code == 2 and len(errors) == 1 and "Traceback" not in result.err, result.err
    return errors[0]


def _with(**sections: Any) -> dict[str, Any]:
    config = copy.deepcopy(BASE)
    config.update(sections)
    return config


def _renamed(section: str, old: str, new: str) -> dict[str, Any]:
    """BASE with entry ``old`` of ``section`` (datasets or models) renamed ``new``, the sweep following."""
    config = copy.deepcopy(BASE)
    config[section][new] = config[section].pop(old)
    config["sweep"][section] = [new]
    return config


# ------------------------------------------------------------------------------------------------ names

BAD_NAMES = ["..", "../escape", "a/b", "a..b", ".hidden", "x" * 101, "é"]
NAME_CASES = [pytest.param(_with(name=name), "config name", id=f"name-{i}") for i, name in enumerate(BAD_NAMES)] + [
    pytest.param(_renamed(section, old, name), f"config {section}: the name", id=f"{section}-{i}")
    for section, old in (("datasets", "syn"), ("models", "keynet")) for i, name in enumerate([*BAD_NAMES, "a.b"])]


@pytest.mark.parametrize("config,expected", NAME_CASES)
def test_names_that_would_leave_their_folder_are_refused_by_check_config_and_the_schema(tmp_path, capsys, config,
                                                                                         expected):
    assert expected in _error(capsys, tmp_path, config)
    with pytest.raises(InputError, match="does not match"):
        validate_config(config)


def test_good_names_pass_and_the_schema_holds_the_same_patterns(tmp_path, capsys):
    config = _renamed("datasets", "syn", "my-data_2")
    config["name"] = "run.v2-final"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    assert run(capsys, "check-config", path).code == 0
    schema = yaml.safe_load(SCHEMA.read_text())
    assert schema["properties"]["name"]["pattern"] == RUN_NAME_PATTERN
    assert schema["$defs"]["entry_name"]["pattern"] == ENTRY_NAME_PATTERN


SHIPPED = [REPO / "config.yaml", *sorted((REPO / "config").glob("*.yaml")), REPO / "tests" / "config" / "config.yaml"]


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_the_shipped_configs_pass_every_check(capsys, path):
    result = run(capsys, "check-config", path)
    assert result.code == 0, result.err


def test_seeds_and_counts_that_make_file_names_are_bounded():
    config = _with(sweep={**BASE["sweep"], "seeds": [10**300]})
    with pytest.raises(InputError, match="sweep.seeds.0"):
        validate_config(config)


# ------------------------------------------------------------------------------------------------ alias bombs

def _bomb(levels: int, key: str = "name") -> str:
    """The classic "billion laughs" in YAML: each level is a list of ten aliases of the one before."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        name = key if level == levels - 1 else f"l{level}"
        lines.append(f"{name}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_in_under_a_second_with_bounded_memory(tmp_path):
    text = _bomb(9)  # 10^9 strings once expanded
    assert len(text.encode()) < 700
    path = tmp_path / "bomb.yaml"
    path.write_text(text + yaml.safe_dump(BASE))
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(InputError, match="alias bomb"):
        load_config([path])
    seconds, peak = time.perf_counter() - start, tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert seconds < 1 and peak < 20 * 2**20, (seconds, peak)


def test_a_recursive_alias_and_a_merge_key_bomb_are_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("loop: &loop [*loop]\n")
    with pytest.raises(InputError, match="bomb|itself"):
        load_config([path])
    merge = ["m0: &m0 {" + ", ".join(f"k{i}: {i}" for i in range(10)) + "}"]
    merge += [f"m{i}: &m{i} {{<<: [" + ", ".join([f"*m{i - 1}"] * 10) + "]}" for i in range(1, 8)]
    path.write_text("\n".join(merge) + "\n")
    with pytest.raises(InputError, match="alias bomb"):
        load_config([path])


def _dry_run(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return subprocess.run([SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
                           "--configfile", str(path), "-n", "--cores", "1"], cwd=REPO, text=True,
                          capture_output=True, timeout=120)


@pytest.mark.workflow
def test_the_workflow_refuses_a_bomb_and_an_escaping_name_before_the_schema(tmp_path):
    bomb = _dry_run(tmp_path, _bomb(7) + yaml.safe_dump({k: v for k, v in BASE.items() if k != "name"}))
    assert bomb.returncode != 0 and "alias bomb" in bomb.stdout + bomb.stderr, bomb.stdout[-2000:]
    escape = _dry_run(tmp_path, yaml.safe_dump(_with(name="../escape")))
    assert escape.returncode != 0 and "config name '../escape'" in escape.stdout + escape.stderr, escape.stdout[-2000:]


# ------------------------------------------------------------------------------------------------ NaN and Inf

def _number_places(schema: dict[str, Any], node: dict[str, Any], place: tuple) -> Iterator[tuple]:
    """The place (keys, 0 for a list item) of every number field of the schema, with a name for each mapping of
    names (the first such entry of BASE)."""
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    if node.get("type") == "number":
        yield place
    for branch in node.get("oneOf", []):
        yield from _number_places(schema, branch, place)
    for key, child in node.get("properties", {}).items():
        yield from _number_places(schema, child, (*place, key))
    if isinstance(node.get("items"), dict):
        yield from _number_places(schema, node["items"], (*place, 0))
    if isinstance(node.get("additionalProperties"), dict):
        yield from _number_places(schema, node["additionalProperties"], (*place, "entry"))


def _placed(place: tuple, value: float) -> dict[str, Any]:
    """BASE with ``value`` at ``place``: missing mappings are made, a list becomes a one-item list."""
    config = copy.deepcopy(BASE)
    node: Any = config
    for key, child in zip(place, place[1:]):
        kind = list if child == 0 else dict
        if key == 0:
            node[:] = [node[0] if node and isinstance(node[0], kind) else kind()]
        elif not isinstance(node.get(key), kind):
            node[key] = kind()
        node = node[key]
    if place[-1] == 0:
        node[:] = [value]
    else:
        node[place[-1]] = value
    return config


_SCHEMA = yaml.safe_load(SCHEMA.read_text())
NUMBER_PLACES = sorted(set(_number_places(_SCHEMA, _SCHEMA, ())), key=str)


def test_the_schema_has_number_fields_everywhere():
    sections = {place[0] for place in NUMBER_PLACES}
    assert {"labels", "models", "training", "experiments", "sweep"} <= sections and len(NUMBER_PLACES) > 25


@pytest.mark.parametrize("place", NUMBER_PLACES, ids=[".".join(map(str, p)) for p in NUMBER_PLACES])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
def test_every_float_field_refuses_nan_and_inf(tmp_path, capsys, place, value):
    dotted = ".".join(map(str, place))
    assert f"config {dotted}: {value} is not a finite number" in _error(capsys, tmp_path, _placed(place, value))


# ------------------------------------------------------------------------------------------------ memory

MEMORY_CASES = [
    ("fraction-1e9", lambda c: c["sweep"].update(parameters_fractions=[1e9]), "config sweep: model 'keynet' at "
                                                                               "parameters_fraction 1000000000.0"),
    ("width-1e9", lambda c: c["models"]["keynet"].update(width=10**9), "(1000000018000000008 parameters, width "
                                                                      "1000000000)"),
    ("fraction-overflow", lambda c: c["sweep"].update(parameters_fractions=[1e308]), "too large to compute"),
    ("router", lambda c: c["experiments"].update(router={"enabled": True, "models": ["keynet"],
                                                         "parameters_fractions": [1e8]}), "config experiments.router"),
    ("scaling", lambda c: c["experiments"].update(data_scaling={"enabled": True, "datasets": ["syn"],
                                                                "models": ["keynet"], "train_queries": [20],
                                                                "parameters_fraction": 1e9}),
     "config experiments.data_scaling"),
    ("list-router", lambda c: c["experiments"].update(list_router={"enabled": True, "models": ["keynet"],
                                                                   "parameters_fraction": 1e9}),
     "config experiments.list_router"),
]


@pytest.mark.parametrize("mutate,expected", [pytest.param(m, e, id=i) for i, m, e in MEMORY_CASES])
def test_sizes_that_cannot_fit_in_memory_are_refused_at_once_with_the_estimate(tmp_path, capsys, mutate, expected):
    config = copy.deepcopy(BASE)
    mutate(config)
    start = time.perf_counter()
    line = _error(capsys, tmp_path, config)
    assert time.perf_counter() - start < 5
    assert expected in line, line
    assert "too large to compute" in line or ("needs about" in line and "is available" in line), line


# ------------------------------------------------------------------------------------------------ warm-up

WARMUP_CASES = [
    ("training", lambda c: c["training"].update(warmup_steps=20), "config training: warmup_steps"),
    ("model", lambda c: c["models"]["keynet"].update(training={"steps": 5, "warmup_steps": 8}),
     "config models.keynet.training: warmup_steps"),
    ("list-router", lambda c: c["experiments"].update(list_router={"enabled": True, "models": ["keynet"],
                                                                   "training": {"steps": 2, "warmup_steps": 5}}),
     "config experiments.list_router.training (model 'keynet'): warmup_steps"),
    ("list-router-merged", lambda c: (c["training"].update(warmup_steps=5), c["experiments"].update(
        list_router={"enabled": True, "models": ["keynet"], "training": {"steps": 3}})),
     "config experiments.list_router.training (model 'keynet'): warmup_steps"),
    ("data-scaling", lambda c: c["experiments"].update(data_scaling={"enabled": True, "datasets": ["syn"],
                                                                     "models": ["keynet"], "train_queries": [20],
                                                                     "training": {"warmup_steps": 11}}),
     "config experiments.data_scaling.training (model 'keynet'): warmup_steps"),
]


@pytest.mark.parametrize("mutate,expected", [pytest.param(m, e, id=i) for i, m, e in WARMUP_CASES])
def test_a_warmup_longer_than_training_is_refused_naming_where(tmp_path, capsys, mutate, expected):
    config = copy.deepcopy(BASE)
    mutate(config)
    line = _error(capsys, tmp_path, config)
    assert expected in line and "with steps = " in line, line
