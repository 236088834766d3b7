"""What one job of the workflow is given: its ``params:`` and the inputs that depend on its wildcards.

Functions ``(config, wildcards) -> value`` over the (schema-validated) config dict; ``workflow/rules/common.smk``
binds the config (``functools.partial``), so that a rule names them as input or params functions. ``wildcards`` is
Snakemake's (attribute access and ``.get``). A run's identifying fields, its dataset, label, model, training,
evaluation and experiment settings.
"""

from __future__ import annotations

from typing import Any

from amips.data.input_digest import DigestCache, dataset_digests
from amips.routing.list_routers import NEEDS_LIST_TARGETS
from amips.pipeline.paths import data_file, ivf_file, labels_file, list_router_file
from amips.pipeline.targets import curve_runs, experiments, ivf_hybrid_files, list_router_files, scaling_config
from amips.training.retrieval import uses_retrieval

__all__ = [
    "INDEX_FAMILY_FILTERS", "IVF_SWEEP_SETTINGS", "controls_config", "convex_diagnostics_inputs",
    "convex_diagnostics_models", "curve_run_fields", "dataset_inputs", "dataset_job_spec", "dataset_spec",
    "eval_batch_size", "eval_conventions", "experiment_config", "fixed_router_targets", "index_families_config",
    "ivf_config", "ivf_experiment_files", "ivf_hybrid_config", "ivf_sweep_settings", "labels_config",
    "list_router_config", "list_router_run", "model_config", "run_fields", "scaling_job_config",
    "scaling_model_config", "scaling_training", "train_partition", "training_config", "budgets",
]

Wildcards = Any  # snakemake.io.Wildcards: the job's wildcards by name

IVF_SWEEP_SETTINGS = ("k_values", "nprobes", "timing_repeats", "quiet_load")
INDEX_FAMILY_FILTERS = ("enabled", "datasets", "models", "seeds", "parameters_fractions")


def _entry(config: dict[str, Any], model: str) -> dict[str, Any]:
    """A model entry's ModelSpec fields (its ``training:`` overrides left out)."""
    return {k: v for k, v in config["models"][model].items() if k != "training"}


def run_fields(config: dict[str, Any], wildcards: Wildcards) -> dict[str, Any]:
    """The identifying fields of a run, written into its result files."""
    return {"dataset": wildcards.dataset, "task": wildcards.get("task", "mips"), "model": wildcards.model,
            "homogenization": wildcards.homogenization, "parameters_fraction": float(wildcards.fraction),
            "seed": int(wildcards.seed)}


def curve_run_fields(config: dict[str, Any], wildcards: Wildcards) -> list[dict[str, Any]]:
    """The identifying fields of each run of :func:`amips.pipeline.targets.curve_histories`, in the same order."""
    return [{**run, "parameters_fraction": float(run.pop("fraction")), "seed": int(run["seed"])}
            for run in (dict(r) for r in curve_runs(config))]


def dataset_spec(config: dict[str, Any], wildcards: Wildcards) -> dict[str, Any]:
    """The job's dataset entry."""
    return config["datasets"][wildcards.dataset]


def dataset_job_spec(config: dict[str, Any], digests: DigestCache, wildcards: Wildcards) -> dict[str, Any]:
    """The dataset entry with the SHA-256 of each file it reads from the user (``input_sha256``), so that a file
    replaced by other content reruns the dataset even with an older or preserved mtime (cp -p, mv, a restore);
    a synthetic entry as it is."""
    spec = dataset_spec(config, wildcards)
    found = dataset_digests(spec, digests)
    return {**spec, "input_sha256": found} if found else spec


def dataset_inputs(config: dict[str, Any], wildcards: Wildcards) -> dict[str, str]:
    """The user's embedding files of a ``source: npy`` dataset (so replacing them reruns it); none otherwise."""
    spec = dataset_spec(config, wildcards)
    return {"user_keys": spec["keys"], "user_queries": spec["queries"]} if spec["source"] == "npy" else {}


def labels_config(config: dict[str, Any], wildcards: Wildcards) -> dict[str, Any]:
    """Label settings; the router task uses its own number of k-means clusters."""
    clusters = experiments(config)["router"]["num_clusters"] if wildcards.task == "router" else 1
    return {**config["labels"], "num_clusters": clusters}


def model_config(config: dict[str, Any], wildcards: Wildcards) -> dict[str, Any]:
    """The ModelSpec fields of one run: the named architecture plus the run's wildcards."""
    return {**_entry(config, wildcards.model), "homogenization": wildcards.homogenization,
            "parameters_fraction": float(wildcards.fraction)}


def training_config(config: dict[str, Any], wildcards: Wildcards) -> dict[str, Any]:
    """Training settings, with the model entry's own ``training:`` overrides (used by ablations)."""
    return {**config["training"], **config["models"][wildcards.model]["training"]}


def train_partition(config: dict[str, Any], wildcards: Wildcards) -> dict[str, str]:
    """The IVF index a model trained with a retrieval term (training.retrieval) trains on; none otherwise."""
    if not uses_retrieval(training_config(config, wildcards).get("retrieval")):
        return {}
    return {"index": ivf_file("index.faiss", dataset=wildcards.dataset)}


def eval_batch_size(config: dict[str, Any], wildcards: Wildcards) -> int:
    """Batch size of evaluation and inference."""
    return config["evaluation"]["batch_size"]


def eval_conventions(config: dict[str, Any], wildcards: Wildcards) -> dict[str, str]:
    """Rank-tie and recall@1 % conventions (amips: index/ceil; official preset: strict/floor)."""
    evaluation = config["evaluation"]
    return {"rank_ties": evaluation["rank_ties"],
            "recall_at_1pct": evaluation["recall_at_1pct"]}


def controls_config(config: dict[str, Any], wildcards: Wildcards) -> dict[str, Any]:
    """The controls' fitting settings (not which are on)."""
    block = experiments(config)["controls"]
    return {k: v for k, v in block.items() if k not in ("enabled", "names", "ivf_names")}


def ivf_config(config: dict[str, Any], wildcards: Wildcards) -> dict[str, Any]:
    """The IVF block, as it is (natural, projected and controls sweeps)."""
    return experiments(config)["ivf"]


def ivf_sweep_settings(config: dict[str, Any]) -> dict[str, Any]:
    """What every IVF sweep of the run shares (natural, projected, controls, hybrid, list routers): k_values, the one
    nprobe grid (experiments.ivf.nprobes, amips.index.ivf.nprobe_grid) and the timing protocol."""
    ivf = experiments(config)["ivf"]
    return {"k_values": ivf["k_values"], **{k: ivf[k] for k in IVF_SWEEP_SETTINGS[1:] if k in ivf}}


def ivf_hybrid_config(config: dict[str, Any], wildcards: Wildcards) -> dict[str, Any]:
    """Hybrid probing: the shared IVF sweep settings and the experiment's own (not its run filters)."""
    block = experiments(config)["ivf_hybrid"]
    return {**ivf_sweep_settings(config), **{k: v for k, v in block.items() if k not in ("enabled", "models", "seeds")}}


def list_router_config(config: dict[str, Any], wildcards: Wildcards) -> dict[str, Any]:
    """Settings of one list router: the LTR block, or the model entry (+ wrapper, budget) and its training."""
    common = ivf_sweep_settings(config)
    block = experiments(config)["list_router"]
    if wildcards.get("model") is None:  # ltr or residual: its own block
        return {**common, **{k: v for k, v in block.get(wildcards.router, {}).items() if k != "enabled"}}
    model = {**_entry(config, wildcards.model), "homogenization": wildcards.homogenization,
             "parameters_fraction": float(block["parameters_fraction"])}
    training = {**training_config(config, wildcards), **block["training"]}
    return {**common, "model": model, "training": training}


def list_router_run(config: dict[str, Any], wildcards: Wildcards) -> dict[str, Any]:
    """The identifying fields of a list router, written into its curve file."""
    block = experiments(config)["list_router"]
    run = {"dataset": wildcards.dataset, "seed": int(wildcards.seed)}
    if wildcards.get("model") is None:
        names = {"ltr": "router ltr (linear, Vecchiato et al.)",
                 "residual": f"router residual (centroids + rank {block['residual']['rank']})",
                 "ellipsoid": f"router ellipsoid (rank {block['ellipsoid']['rank']}, untrained)"}
        return {**run, "method": names[wildcards.router]}
    return {**run, "model": wildcards.model, "homogenization": wildcards.homogenization,
            "method": f"router {wildcards.model} ({wildcards.homogenization})"}


def fixed_router_targets(config: dict[str, Any], wildcards: Wildcards) -> dict[str, str]:
    """The shared per-list labels (rule list_targets), for the fixed routers trained on them (residual; not ltr)."""
    if wildcards.router in NEEDS_LIST_TARGETS:
        return {"list_targets": list_router_file("list_targets.npy", dataset=wildcards.dataset)}
    return {}


def ivf_experiment_files(config: dict[str, Any], wildcards: Wildcards) -> list[str]:
    """The per-run curve files of one IVF experiment (wildcards.experiment), besides the baselines."""
    if wildcards.experiment == "hybrid":
        return ivf_hybrid_files(config)
    return list_router_files(config)


def scaling_job_config(config: dict[str, Any], wildcards: Wildcards) -> dict[str, Any]:
    """What one data-scaling job uses (not the experiment's lists of datasets, models and sizes, so that adding a
    size does not rerun the others)."""
    cfg = scaling_config(config)
    return {"nprobes": cfg["nprobes"], "controls": cfg["controls"], "budgets": config["budgets"]["fractions"]}


def scaling_model_config(config: dict[str, Any], wildcards: Wildcards) -> dict[str, Any]:
    """The ModelSpec fields of a data-scaling run: the named architecture at the experiment's wrapper and size."""
    cfg = scaling_config(config)
    return {**_entry(config, wildcards.model), "homogenization": cfg["homogenization"],
            "parameters_fraction": float(cfg["parameters_fraction"])}


def scaling_training(config: dict[str, Any], wildcards: Wildcards) -> dict[str, Any]:
    """Training of a data-scaling run: the training section, the model's overrides, then the experiment's."""
    return {**training_config(config, wildcards), **experiments(config)["data_scaling"]["training"]}


def convex_diagnostics_inputs(config: dict[str, Any], wildcards: Wildcards) -> dict[str, str]:
    """The keys and mips training labels of the dataset whose early training is traced."""
    dataset = experiments(config)["convex_diagnostics"]["dataset"]
    return {"key_file": data_file("keys.npy", dataset),
            **{name: labels_file(f"{name}.npy", dataset, "mips") for name in ("train_queries", "train_targets")}}


def convex_diagnostics_models(config: dict[str, Any], wildcards: Wildcards) -> dict[str, Any]:
    """The model entries (name → ModelSpec fields, optional ``training``) traced by rule convex_diagnostics."""
    return {name: config["models"][name] for name in experiments(config)["convex_diagnostics"]["models"]}


def experiment_config(config: dict[str, Any], wildcards: Wildcards, experiment: str,
                      leave_out: tuple[str, ...] = ("enabled",)) -> dict[str, Any]:
    """One experiment's block less the keys that only select what runs (``enabled``, the run filters)."""
    return {k: v for k, v in experiments(config).get(experiment, {}).items() if k not in leave_out}


def index_families_config(config: dict[str, Any], wildcards: Wildcards) -> dict[str, Any]:
    """The index-family settings (amips.experiments.index_families.settings fills in the defaults)."""
    return experiment_config(config, wildcards, "index_families", INDEX_FAMILY_FILTERS)


def budgets(config: dict[str, Any], wildcards: Wildcards) -> dict[str, Any]:
    """The budgets section (amips.pipeline.sections.BudgetSettings): a param of every table that uses it, so that
    a changed budget reruns those tables."""
    return config["budgets"]
