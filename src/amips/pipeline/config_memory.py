"""``amips check-config``: refuse models that cannot be trained in this machine's memory, with the estimate.

Each model a config trains (every sweep run, the router runs, the data-scaling and list-router models) is sized
as the training stage sizes it (:func:`amips.models.factory.resolve_width`, ``expected_parameter_count``,
:func:`amips.core.resources.training_bytes`): arithmetic on Python integers, nothing is built, so
``parameters_fractions: [1e9]`` or ``width: 1e9`` are refused at once. Datasets whose size is only known once
embedded (text corpora) are skipped. Only check-config runs this: the workflow may start on a machine (a cluster's
login node) other than the one that trains, whose jobs check again before allocating (``amips.pipeline.stages``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from amips.core.schema import with_defaults
from amips.pipeline.config_checks import DatasetSizes, sweep_blocks, train_rows, training_for
from amips.data.io import InputError
from amips.index.base import default_nlist
from amips.models.factory import expected_parameter_count, resolve_width
from amips.models.spec import ModelSpec
from amips.core.resources import available_memory, format_bytes, training_bytes
from amips.pipeline.sweeps import plan_runs
from amips.pipeline.sweeps import sweep_blocks as task_blocks


@dataclass(frozen=True)
class Job:
    """One model the config trains on one dataset (seeds aside)."""

    where: str
    dataset: str
    model: str
    homogenization: str
    fraction: float
    num_outputs: int
    batch_size: int


def training_jobs(config: dict[str, Any], sizes: DatasetSizes) -> Iterator[Job]:
    """Every (place, dataset, model, wrapper, fraction, outputs, batch size) a config trains, seeds aside."""
    experiments = config["experiments"]
    clusters = int(experiments["router"]["num_clusters"])
    for where, block in sweep_blocks(config):
        task, outputs = ("router", clusters) if where == "experiments.router" else ("mips", 1)
        for run in plan_runs(config, [block], task)[0]:  # less the runs skipped for their wrapper
            yield Job(where, run["dataset"], run["model"], run["homogenization"], run["fraction"], outputs,
                      _batch(training_for(config, run["model"])))
    scaling = experiments["data_scaling"]
    if scaling["enabled"]:
        for dataset in scaling["datasets"]:
            for model in scaling["models"]:
                training = {**training_for(config, model), **scaling["training"]}
                yield Job("experiments.data_scaling", dataset, model, scaling["homogenization"],
                          scaling["parameters_fraction"], 1, _batch(training))
    routers = experiments["list_router"]
    if routers["enabled"] and experiments["ivf"]["enabled"]:
        datasets = sorted({d for block in task_blocks(config)["mips"] for d in block["datasets"]})
        for dataset in datasets:
            num_keys = sizes(dataset)[0]
            nlist = experiments["ivf"].get("nlist") or (default_nlist(num_keys) if num_keys else 1)
            for model in routers["models"]:
                training = {**training_for(config, model), **routers["training"]}
                yield Job("experiments.list_router", dataset, model, routers["homogenization"],
                          routers["parameters_fraction"], nlist, _batch(training))


def _batch(training: dict[str, Any]) -> int:
    return int(training["batch_size"])


def job_bytes(config: dict[str, Any], job: Job, shape: tuple[int, int | None, int]) -> tuple[int, int, int]:
    """(bytes, parameters, width) of training ``job`` on a dataset of ``shape`` (num_keys, num_queries, dim)."""
    num_keys, num_queries, dim = shape
    entry = {k: v for k, v in config["models"][job.model].items() if k != "training"}
    spec = ModelSpec.from_dict({**entry, "homogenization": job.homogenization,
                                "parameters_fraction": float(job.fraction), "num_outputs": job.num_outputs})
    width = resolve_width(spec, dim, num_keys)
    parameters = expected_parameter_count(spec.replace(width=width), dim, width)
    labels = config["labels"]
    rows = 0 if num_queries is None else train_rows(num_queries, int(labels["noise_copies"]), labels, job.dataset)
    return training_bytes(parameters, job.batch_size, width, spec.depth, dim, rows), parameters, width


def check_memory(config: dict[str, Any]) -> None:
    """Raise ``InputError`` naming the first model whose training needs more than the available memory (``config``
    read with the schema's defaults filled in)."""
    config = with_defaults(config, validate=False)
    sizes = DatasetSizes(config)
    available = available_memory()
    for job in dict.fromkeys(training_jobs(config, sizes)):
        num_keys, num_queries, dim = sizes.shape(job.dataset)
        if num_keys is None or dim is None:
            continue
        budget = "" if "width" in config["models"][job.model] else f" at parameters_fraction {job.fraction}"
        what = f"config {job.where}: model {job.model!r}{budget} on dataset {job.dataset!r}"
        try:
            nbytes, parameters, width = job_bytes(config, job, (int(num_keys), num_queries, int(dim)))
        except OverflowError as exc:
            raise InputError(f"{what} has a parameter budget too large to compute ({exc})") from exc
        except ValueError as exc:
            raise InputError(f"{what}: {exc}") from exc
        if nbytes > available:
            raise InputError(f"{what} needs about {format_bytes(nbytes)} of memory to train ({parameters} "
                             f"parameters, width {width}) but {format_bytes(available)} is available; use "
                             "smaller sizes")
