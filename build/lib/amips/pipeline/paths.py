"""Where the workflow writes: every path pattern of the rules and of their target lists, each written once.

Each helper returns a path under ``results/`` (or ``logs/``, ``paper_figures/``). An argument left out stays a
Snakemake wildcard (``{dataset}``, ``{task}``, ...), so the same helper gives a rule's pattern
(``labels_file("test_targets.npy", task="mips")`` → ``results/{dataset}/labels/mips/test_targets.npy``) and a
target of the config (``labels_file("meta.json", dataset="tiny", task="mips")``).
"""

from __future__ import annotations

__all__ = [
    "DATA_FILES", "EMBEDDING_CACHE", "INPUT_DIGESTS", "LABEL_FILES", "benchmark_file", "controls_file", "data_file",
    "data_files", "dataset_file", "figure_file", "index_families_file", "ivf_file", "labels_dir", "labels_file",
    "labels_files", "list_router_file", "log_file", "published_dir", "run_dir", "run_file", "run_key", "scaling_file",
    "table_file",
]

# The files of one dataset (rules make_dataset and embed) and of its labels (rule exact_labels): input/output name →
# file name, in the order the rules list them.
DATA_FILES = {"key_file": "keys.npy", "queries": "queries.npy", "meta": "meta.json", "manifest": "manifest.json"}
LABEL_FILES = {name: f"{name}.npy" for name in (
    "train_queries", "train_targets", "val_queries", "val_targets", "test_queries", "test_targets", "train_source",
    "test_source", "centroids", "assignments")} | {"meta": "meta.json", "manifest": "manifest.json"}

EMBEDDING_CACHE = "results/cache/embeddings"  # text encoders' embeddings, shared by the runs (rule embed)
INPUT_DIGESTS = ".snakemake/amips/input_digests.json"  # SHA-256 of the user's files (amips.data.input_digest)


def dataset_file(*parts: str, dataset: str = "{dataset}") -> str:
    """``results/<dataset>/<parts...>``: everything made for one dataset."""
    return "/".join(("results", dataset, *parts))


def data_file(filename: str, dataset: str = "{dataset}") -> str:
    """A file of the dataset itself (keys, queries, their meta and manifest)."""
    return dataset_file("data", filename, dataset=dataset)


def data_files(*names: str, dataset: str = "{dataset}") -> dict[str, str]:
    """Named dataset files (names of :data:`DATA_FILES`, every one if none given), as a rule's ``**`` inputs."""
    return {name: data_file(DATA_FILES[name], dataset) for name in names or DATA_FILES}


def labels_dir(dataset: str = "{dataset}", task: str = "{task}") -> str:
    """The exact labels of one dataset for one task (``mips``, or ``router`` with its k-means clusters)."""
    return dataset_file("labels", task, dataset=dataset)


def labels_file(filename: str, dataset: str = "{dataset}", task: str = "{task}") -> str:
    """One file of :func:`labels_dir`."""
    return f"{labels_dir(dataset, task)}/{filename}"


def labels_files(task: str, *names: str, dataset: str = "{dataset}") -> dict[str, str]:
    """Named label files (names of :data:`LABEL_FILES`, every one if none given), as a rule's ``**`` inputs."""
    return {name: labels_file(LABEL_FILES[name], dataset, task) for name in names or LABEL_FILES}


def run_key(dataset: str = "{dataset}", task: str | None = "{task}", model: str = "{model}",
            homogenization: str = "{homogenization}", fraction: object = "{fraction}",
            seed: object = "{seed}") -> str:
    """``dataset/task/model/homogenization/frac<fraction>/seed<seed>``, one trained run; ``task=None`` leaves the
    task out (the logs of the rules that only see mips runs)."""
    parts = (dataset, task, model, homogenization, f"frac{fraction}", f"seed{seed}")
    return "/".join(str(part) for part in parts if part is not None)


def run_dir(**fields: object) -> str:
    """The folder of one trained run (fields of :func:`run_key`; a sweep run's dict fits as it is)."""
    return f"results/{run_key(**fields)}"


def run_file(filename: str, **fields: object) -> str:
    """One file of :func:`run_dir`."""
    return f"{run_dir(**fields)}/{filename}"


def ivf_file(filename: str, dataset: str = "{dataset}") -> str:
    """The dataset's IVF index and its natural-query baselines."""
    return dataset_file("ivf", filename, dataset=dataset)


def controls_file(*parts: str, dataset: str = "{dataset}") -> str:
    """The controls of a dataset (amips.evaluation.controls): their metrics and IVF curves."""
    return dataset_file("controls", *parts, dataset=dataset)


def list_router_file(*parts: str, dataset: str = "{dataset}") -> str:
    """The routers over a dataset's IVF lists and their shared per-list labels."""
    return dataset_file("list_router", *parts, dataset=dataset)


def scaling_file(*parts: str, dataset: str = "{dataset}") -> str:
    """The data-scaling points of a dataset."""
    return dataset_file("scaling", *parts, dataset=dataset)


def index_families_file(filename: str, dataset: str = "{dataset}") -> str:
    """The index families of a dataset: its baselines and the stored indexes."""
    return dataset_file("index_families", filename, dataset=dataset)


def table_file(filename: str, run_name: str = "{name}") -> str:
    """A table of a named run (results/tables/<name>/)."""
    return f"results/tables/{run_name}/{filename}"


def figure_file(filename: str, run_name: str = "{name}") -> str:
    """A figure of a named run, the CSV behind it or its provenance (results/figures/<name>/)."""
    return f"results/figures/{run_name}/{filename}"


def published_dir(run_name: str) -> str:
    """The tracked copy of a finished run (`snakemake publish`)."""
    return f"paper_figures/{run_name}"


def log_file(rule: str, key: str) -> str:
    """The log of one job of ``rule``; ``key`` names the job by its wildcards (e.g. ``{dataset}``)."""
    return f"logs/{rule}/{key}.log"


def benchmark_file(rule: str, key: str) -> str:
    """Snakemake's benchmark record (time, memory) of one job of ``rule``."""
    return f"results/benchmarks/{rule}/{key}.tsv"
