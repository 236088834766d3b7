"""Sweep expansion with the homogenization checks: which runs of a cross product are trained, which are skipped.

A sweep block is a cross product ``datasets × models × homogenizations × parameters_fractions × seeds``. Two kinds
of runs are skipped, each with a one-line reason (printed by the workflow, listed by ``amips check-config``):

* the wrapper does not apply to the model's kind (``homogeneous_icnn`` is SupportNet only);
* the wrapper is provably a no-op on the dataset (:func:`amips.models.homogenize.is_noop`: the radial KeyNet on
  unit-norm queries) *and* the same run with ``none`` is in the sweep, so it would train the same function twice.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from amips.core.schema import section, with_defaults
from amips.data.io import InputError
from amips.models.homogenize import applies, is_noop

RUN_FIELDS = ("dataset", "model", "homogenization", "fraction", "seed")
TEXT_SOURCES = ("wordnet", "wikipedia", "beir")
SYNTHETIC_SOURCES = ("gaussian", "structured")


def dataset_queries_unit_norm(dataset: dict[str, Any]) -> bool:
    """Whether a dataset config entry yields unit-norm queries: text with ``normalize``, synthetic without
    ``options.query_norm_spread``, and ``npy`` (its queries are always L2-normalised on loading)."""
    dataset = section("datasets.*", dataset, validate=False)
    source = dataset["source"]
    if source in TEXT_SOURCES:
        return bool(dataset["normalize"])
    if source in SYNTHETIC_SOURCES:
        return float(dataset["options"].get("query_norm_spread", 0.0)) == 0.0  # the generator's own default
    return True


def queries_unit_norm(dataset: dict[str, Any], labels: dict[str, Any]) -> bool:
    """Whether every labelled query row (clean and noisy copies) of ``dataset`` has norm 1 under ``labels``
    (``query_norms``: unit renormalises every row; source keeps the source norms; raw keeps x + ε)."""
    labels = section("labels", labels, validate=False)
    mode = labels["query_norms"]
    if mode == "unit":
        return True
    noisy = int(labels["noise_copies"]) > 0 and float(labels["noise_std"]) > 0
    return dataset_queries_unit_norm(dataset) and not (mode == "raw" and noisy)


def unit_norm_cause(dataset: dict[str, Any], labels: dict[str, Any]) -> str:
    """Why the labelled query rows of ``dataset`` all have norm 1 (for a skip message): the labels setting, or the
    dataset's own queries."""
    if section("labels", labels, validate=False)["query_norms"] == "unit":
        return ("labels.query_norms: unit renormalises every query row (set query_norms: source to keep the "
                "queries' own norms)")
    source = dataset["source"]
    why = {"npy": "npy queries are L2-normalised on loading", "wordnet": "normalize: true",
           "wikipedia": "normalize: true", "beir": "normalize: true"}.get(source, "no options.query_norm_spread")
    return f"this dataset's queries have norm 1 ({source}: {why})"


@dataclass(frozen=True)
class Skip:
    """A run left out of a sweep, and why."""

    run: dict[str, Any]
    reason: str

    def line(self) -> str:
        r = self.run
        return (f"skipped: dataset {r['dataset']!r} model {r['model']!r} homogenization {r['homogenization']!r} "
                f"({r['task']}): {self.reason}")


def expand_block(block: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    """The cross product of one sweep block of :func:`sweep_blocks` (the schema's defaults filled in) as (dataset,
    model, homogenization, fraction, seed) tuples."""
    yield from itertools.product(block["datasets"], block["models"], block["homogenizations"],
                                 block["parameters_fractions"], block["seeds"])


def plan_runs(config: dict[str, Any], blocks: Iterable[dict[str, Any]], task: str = "mips") -> tuple[list[dict], list[Skip]]:
    """The runs of ``task``'s sweep ``blocks`` (their union, each once, in order) and the skipped ones.

    Returns:
        (runs: dicts with ``RUN_FIELDS`` and ``task``, skips: :class:`Skip` with the same dicts).

    Raises:
        InputError: a block names a dataset or model that the config does not define.
    """
    candidates = list(dict.fromkeys(run for block in blocks for run in expand_block(block)))
    for section, index in (("datasets", 0), ("models", 1)):
        for name in dict.fromkeys(run[index] for run in candidates):
            if name not in config[section]:
                raise InputError(f"config sweep ({task}) names {name!r}, which is not defined under {section}: "
                                 f"{sorted(config[section])}")
    present = set(candidates)
    labels = config["labels"] if "labels" in config else None
    runs, skips = [], []
    for run in candidates:
        fields = dict(zip(RUN_FIELDS, run), task=task)
        dataset, model, name = run[0], run[1], run[2]
        kind = config["models"][model]["kind"]
        if not applies(name, kind):
            skips.append(Skip(fields, f"the {name} wrapper does not apply to a {kind}"))
        elif (is_noop(name, kind, queries_unit_norm(config["datasets"][dataset], labels))
              and (dataset, model, "none", *run[3:]) in present):
            cause = unit_norm_cause(config["datasets"][dataset], labels)
            skips.append(Skip(fields, f"the same function as 'none' (the {name} {kind} wrapper is a no-op at "
                                      f"||x|| = 1): {cause}"))
        else:
            runs.append(fields)
    return runs, skips


def sweep_blocks(config: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """task → its sweep blocks: ``mips`` (``sweep`` + ``extra_sweeps``) and, when enabled, ``router`` (the main
    sweep with the router experiment's own lists)."""
    config = with_defaults(config, validate=False)
    blocks = {"mips": [config["sweep"], *config["extra_sweeps"]]}
    router = config["experiments"]["router"]
    if router["enabled"]:
        keys = ("datasets", "models", "homogenizations", "parameters_fractions", "seeds")
        blocks["router"] = [{**config["sweep"], **{k: v for k, v in router.items() if k in keys}}]
    return blocks


def homogenization_report(config: dict[str, Any]) -> list[str]:
    """One line per skipped (task, dataset, model, homogenization) of the whole config, over all fractions and seeds
    (for ``amips check-config``)."""
    lines = (skip.line() for task, blocks in sweep_blocks(config).items() for skip in plan_runs(config, blocks, task)[1])
    return list(dict.fromkeys(lines))
