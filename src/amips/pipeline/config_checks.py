"""Semantic checks of a pipeline config: what the JSON schema cannot express (see :mod:`amips.pipeline.config`).

Each check is a function ``(config, sizes) -> None`` that raises ``InputError`` naming the config entry; they run in
the order of :data:`CHECKS`. ``sizes`` knows the key and query counts of the datasets whose sizes are known before
any job runs (synthetic datasets from their entry, ``npy`` datasets from the file headers; text datasets only once
embedded, so the size-dependent checks skip them).
"""

from __future__ import annotations

import inspect
import itertools
from typing import Any, Callable, Iterator

import numpy as np

from amips.data.augment import split_rows
from amips.data.sets import gaussian_sphere, structured_embeddings
from amips.data.io import InputError, load_npy
from amips.models.spec import ModelSpec
from amips.core.schema import with_defaults
from amips.training.retrieval import uses_retrieval
from amips.training.routing_terms import uses_routing
from amips.pipeline.sweeps import sweep_blocks as task_blocks
from amips.data.text.encoder import DIM as TEXT_DIM
from amips.training.train import TrainSpec
from amips.training.validation import carve_validation

GENERATORS: dict[str, Callable[..., Any]] = {"gaussian": gaussian_sphere, "structured": structured_embeddings}
SWEEP_FIELDS = ("datasets", "models")


class DatasetSizes:
    """Key and query counts and the dimension of a config's datasets, or None where unknown before the pipeline
    runs."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._datasets = config.get("datasets", {})
        self._cache: dict[str, tuple[int | None, int | None, int | None]] = {}

    def __call__(self, name: str) -> tuple[int | None, int | None]:
        """(num_keys, num_queries) of dataset ``name``."""
        return self.shape(name)[:2]

    def shape(self, name: str) -> tuple[int | None, int | None, int | None]:
        """(num_keys, num_queries, dim) of dataset ``name``."""
        if name not in self._cache:
            self._cache[name] = self._shape(self._datasets.get(name, {}))
        return self._cache[name]

    @staticmethod
    def _shape(spec: dict[str, Any]) -> tuple[int | None, int | None, int | None]:
        source = spec.get("source")
        if source in GENERATORS:
            return spec.get("num_keys"), spec.get("num_queries"), spec.get("dim")
        if source == "npy":
            keys = load_npy(spec["keys"], "keys", mmap=True)
            queries = load_npy(spec["queries"], "queries", mmap=True)
            return int(keys.shape[0]), int(queries.shape[0]), int(keys.shape[1])
        if source == "wordnet":
            return spec.get("num_keys"), None, TEXT_DIM
        return None, None, TEXT_DIM


def sweep_blocks(config: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, block) for each block of :func:`amips.pipeline.sweeps.sweep_blocks`, named by its place in the config."""
    blocks = task_blocks(config)
    names = ["sweep", *(f"extra_sweeps.{i}" for i in range(len(config["extra_sweeps"])))]
    yield from zip(names, blocks["mips"])
    for block in blocks.get("router", []):
        yield "experiments.router", block


def check_sweep_names(config: dict[str, Any], sizes: DatasetSizes) -> None:
    """Every dataset and model a sweep names is defined."""
    for (where, block), kind in itertools.product(sweep_blocks(config), SWEEP_FIELDS):
        for name in block[kind]:
            if name not in config[kind]:
                raise InputError(f"config {where}.{kind} names {name!r}, which is not defined under {kind}: "
                                 f"{sorted(config[kind])}")


def training_for(config: dict[str, Any], model: str) -> dict[str, Any]:
    """The training settings of ``model``: the training section with the model's own overrides."""
    return {**config["training"], **config["models"][model]["training"]}


def check_specs(config: dict[str, Any], sizes: DatasetSizes) -> None:
    """The training section and every model entry (and its ``training:`` overrides) build valid settings."""
    try:
        TrainSpec.from_dict(config["training"])
    except (TypeError, ValueError) as exc:
        raise InputError(f"config training: {exc}") from exc
    for name, entry in config["models"].items():
        try:
            ModelSpec.from_dict({k: v for k, v in entry.items() if k != "training"})
        except (TypeError, ValueError) as exc:
            raise InputError(f"config models.{name}: {exc}") from exc
        try:
            TrainSpec.from_dict(training_for(config, name))
        except (TypeError, ValueError) as exc:
            raise InputError(f"config models.{name}.training: {exc}") from exc


def check_generators(config: dict[str, Any], sizes: DatasetSizes) -> None:
    """Synthetic datasets: generator options exist and are accepted (the generator runs at a tiny size)."""
    for name, spec in config["datasets"].items():
        make = GENERATORS.get(spec["source"])
        if make is None:
            continue
        options = spec["options"]
        allowed = [p for p in inspect.signature(make).parameters if p not in ("num_keys", "num_queries", "dim", "seed")]
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise InputError(f"config datasets.{name}.options: unknown option(s) {unknown} for the {spec['source']} "
                             f"generator; known: {allowed}")
        try:
            make(min(int(spec["num_keys"]), 16), min(int(spec["num_queries"]), 4), min(int(spec["dim"]), 64),
                 seed=int(spec["seed"]), **options)
        except (TypeError, ValueError) as exc:
            raise InputError(f"config datasets.{name}.options: {exc}") from exc


def check_counts(config: dict[str, Any], sizes: DatasetSizes) -> None:
    """Clusters and IVF lists at most the key count; the test split valid; each batch within the training split."""
    labels = config["labels"]
    experiments = config["experiments"]
    copies = int(labels["noise_copies"])
    for where, block in sweep_blocks(config):
        for dataset in block["datasets"]:
            num_keys, num_queries = sizes(dataset)
            clusters = {"labels.num_clusters": labels["num_clusters"]}
            if where == "experiments.router":
                clusters = {"experiments.router.num_clusters": experiments["router"]["num_clusters"]}
            if experiments["ivf"]["enabled"] and "nlist" in experiments["ivf"]:
                clusters["experiments.ivf.nlist"] = experiments["ivf"]["nlist"]
            for key, count in clusters.items():
                if num_keys is not None and count > num_keys:
                    raise InputError(f"config {key}={count} exceeds the {num_keys} keys of dataset {dataset!r}")
            if num_queries is None:
                continue
            rows = train_rows(num_queries, copies, labels, dataset)
            for model in block["models"]:
                batch = training_for(config, model).get("batch_size")
                if isinstance(batch, int) and batch > rows:
                    raise InputError(f"config batch_size={batch} (model {model!r}) exceeds the {rows} training "
                                     f"rows of dataset {dataset!r}")


def train_rows(num_queries: int, copies: int, labels: dict[str, Any], dataset: str) -> int:
    """Training rows of the labels stage's split of ``num_queries`` × (1 + copies) rows: the same functions
    (:func:`amips.data.augment.split_rows`, :func:`amips.training.validation.carve_validation`) on the rows' source ids."""
    return int(_train_row_sources(num_queries, copies, labels, dataset).size)


def _train_row_sources(num_queries: int, copies: int, labels: dict[str, Any], dataset: str) -> np.ndarray:
    """The source query of each training row of the labels stage (see :func:`train_rows`)."""
    source = np.repeat(np.arange(num_queries, dtype=np.int64), 1 + copies)
    seed = int(labels["seed"])
    try:
        train, _ = split_rows(source, labels["test_size"], seed, by_source=labels["split"] == "by_source")
        train, _ = carve_validation(train, source, float(labels["validation_fraction"]), seed)
    except ValueError as exc:
        raise InputError(f"config labels for dataset {dataset!r}: {exc}") from exc
    return source[train]


def check_ivf(config: dict[str, Any], sizes: DatasetSizes) -> None:
    """IVF result depths at most the key count."""
    ivf = config["experiments"]["ivf"]
    if not ivf["enabled"]:
        return
    for _, block in sweep_blocks(config):
        for dataset in block["datasets"]:
            num_keys = sizes(dataset)[0]
            too_deep = [k for k in ivf["k_values"] if num_keys is not None and k > num_keys]
            if too_deep:
                raise InputError(f"config experiments.ivf.k_values {too_deep} exceed the {num_keys} keys of "
                                 f"dataset {dataset!r}")


def check_ivf_experiments(config: dict[str, Any], sizes: DatasetSizes) -> None:
    """List routers name defined model entries and a known wrapper, and train with valid settings. (With
    experiments.ivf off, the IVF experiments are skipped with a message, not an error: an override may turn IVF
    off.)"""
    from amips.models.homogenize import HOMOGENIZATIONS

    router = config["experiments"]["list_router"]
    if not router["enabled"]:
        return
    undefined = [m for m in router["models"] if m not in config["models"]]
    if undefined:
        raise InputError(f"config experiments.list_router.models: {undefined} are not defined under models")
    for model in router["models"]:
        try:
            TrainSpec.from_dict({**training_for(config, model), **router["training"]})
        except (TypeError, ValueError) as exc:
            raise InputError(f"config experiments.list_router.training (model {model!r}): {exc}") from exc
    wrapper = router["homogenization"]
    if wrapper not in HOMOGENIZATIONS:
        raise InputError(f"config experiments.list_router.homogenization: unknown wrapper {wrapper!r}; choose one "
                         f"of {sorted(HOMOGENIZATIONS)}")
    ellipsoid = router["ellipsoid"]
    if ellipsoid["enabled"]:
        rank = int(ellipsoid["rank"])
        # the list routers run on every dataset of the MIPS sweeps (the pipeline's DATASETS)
        for name in sorted({d for block in task_blocks(config)["mips"] for d in block["datasets"]}):
            dim = config["datasets"].get(name, {}).get("dim")  # synthetic sets declare it
            if dim is not None and rank >= int(dim):
                raise InputError(f"config experiments.list_router.ellipsoid.rank={rank} must be below the dimension "
                                 f"{dim} of dataset {name!r}")


def check_index_families(config: dict[str, Any], sizes: DatasetSizes) -> None:
    """The index-family experiment's datasets are defined."""
    block = config["experiments"]["index_families"]
    if not block["enabled"]:
        return
    undefined = sorted(set(block.get("datasets", [])) - set(config.get("datasets", {})))
    if undefined:
        raise InputError(f"config experiments.index_families.datasets: {undefined} are not defined under datasets")


def _models_with_term(config: dict[str, Any], block: dict[str, Any], term: str,
                      uses: Callable[[dict[str, Any] | None], bool]) -> list[str]:
    """The defined models of ``block`` whose training turns on ``training.<term>``."""
    return [m for m in block["models"] if m in config["models"]
            and uses(training_for(config, m).get(term))]


def check_retrieval(config: dict[str, Any], sizes: DatasetSizes) -> None:
    """A retrieval term (training.retrieval) trains a single-output MIPS model's IVF coarse step: not a router."""
    blocks = [(where, block) for where, block in sweep_blocks(config) if where.startswith("experiments.")]
    routers = config["experiments"]["list_router"]
    if routers["enabled"]:
        blocks.append(("experiments.list_router", routers))
    for where, block in blocks:
        bad = _models_with_term(config, block, "retrieval", uses_retrieval)
        if bad:
            raise InputError(f"config {where}.models: {bad} train with training.retrieval, which applies to "
                             "single-output MIPS models, not routers")


def check_routing(config: dict[str, Any], sizes: DatasetSizes) -> None:
    """A routing term (training.routing) trains a router's outputs: not a single-output MIPS model of a sweep or
    of the data-scaling experiment."""
    scaling = config["experiments"]["data_scaling"]
    blocks = [(where, block) for where, block in sweep_blocks(config) if not where.startswith("experiments.")]
    if scaling["enabled"]:
        blocks.append(("experiments.data_scaling", scaling))
    for where, block in blocks:
        bad = _models_with_term(config, block, "routing", uses_routing)
        if bad:
            raise InputError(f"config {where}.models: {bad} train with training.routing, which applies to routers "
                             "(experiments.router, experiments.list_router), not single-output MIPS models")


def check_scaling(config: dict[str, Any], sizes: DatasetSizes) -> None:
    """Data scaling: defined datasets and single-output MIPS models, each n within the training split's distinct
    source queries, a batch within the n-query subset, and a validation split to select on."""
    scaling = config["experiments"]["data_scaling"]
    if not scaling["enabled"]:
        return
    where = "config experiments.data_scaling"
    for field in ("datasets", "models"):
        undefined = [name for name in scaling[field] if name not in config[field]]
        if undefined:
            raise InputError(f"{where}.{field}: {undefined} are not defined under {field}")
    labels = config["labels"]
    if float(labels["validation_fraction"]) <= 0:
        raise InputError(f"{where} needs labels.validation_fraction > 0 (the controls and best_val select on it)")
    copies = int(labels["noise_copies"])
    training = scaling["training"]
    counts = scaling["train_queries"]
    if isinstance(counts, dict):
        missing = [d for d in scaling["datasets"] if d not in counts]
        if missing:
            raise InputError(f"{where}.train_queries has no list for dataset(s) {missing}")
    for dataset in scaling["datasets"]:
        dataset_counts = counts[dataset] if isinstance(counts, dict) else counts
        num_queries = sizes(dataset)[1]
        if num_queries is None:
            continue
        available = int(np.unique(_train_row_sources(num_queries, copies, labels, dataset)).size)
        too_many = [n for n in dataset_counts if n > available]
        if too_many:
            raise InputError(f"{where}.train_queries {too_many} exceed the {available} distinct training queries of "
                             f"dataset {dataset!r}")
        smallest = min(dataset_counts) * (1 + copies)
        for model in scaling["models"]:
            batch = {**training_for(config, model), **training}.get("batch_size")
            if isinstance(batch, int) and batch > smallest:
                raise InputError(f"{where}: batch_size={batch} (model {model!r}) exceeds the {smallest} training rows "
                                 f"of the smallest subset")
    for model in scaling["models"]:
        try:
            TrainSpec.from_dict({**training_for(config, model), **training})
        except ValueError as exc:
            raise InputError(f"{where}.training (model {model!r}): {exc}") from exc


CHECKS: tuple[Callable[[dict[str, Any], DatasetSizes], None], ...] = (
    check_sweep_names, check_specs, check_generators, check_counts, check_ivf, check_ivf_experiments,
    check_index_families, check_retrieval, check_routing, check_scaling,
)


def run_checks(config: dict[str, Any]) -> None:
    """Run every check of :data:`CHECKS` on ``config`` with the schema's defaults filled in (raises ``InputError``
    at the first problem)."""
    config = with_defaults(config, validate=False)
    sizes = DatasetSizes(config)
    for check in CHECKS:
        check(config, sizes)
