# `params:` getters (included by ../common.smk after config.smk and paths.smk): what each job is given, i.e. a run's
# identifying fields and its dataset, label, model, training, evaluation and experiment settings.
from amips.data.input_digest import DigestCache, dataset_digests

def get_curve_runs(wildcards):
    """The identifying fields of each run of get_curve_histories, in the same order."""
    return [{**run, "parameters_fraction": float(run.pop("fraction")), "seed": int(run["seed"])}
            for run in (dict(r) for r in _curve_runs())]


def get_budgets(wildcards=None):
    """The budgets section (amips.pipeline.sections.BudgetSettings): a param of every table that uses it, so that
    a changed budget reruns those tables."""
    return config["budgets"]


def get_scaling_job_config(wildcards):
    """What one data-scaling job uses (not the experiment's lists of datasets, models and sizes, so that adding a
    size does not rerun the others)."""
    cfg = get_scaling_config()
    return {"nprobes": cfg["nprobes"], "controls": cfg["controls"], "budgets": config["budgets"]["fractions"]}


def get_scaling_model_config(wildcards):
    """The ModelSpec fields of a data-scaling run: the named architecture at the experiment's wrapper and size."""
    cfg = get_scaling_config()
    entry = {k: v for k, v in config["models"][wildcards.model].items() if k != "training"}
    return {**entry, "homogenization": cfg["homogenization"], "parameters_fraction": float(cfg["parameters_fraction"])}


def get_scaling_training(wildcards):
    """Training of a data-scaling run: the training section, the model's overrides, then the experiment's."""
    return {**get_training_config(wildcards), **SCALING.get("training", {})}


def get_run_fields(wildcards):
    """The identifying fields of a run, written into its result files."""
    return {"dataset": wildcards.dataset, "task": wildcards.get("task", "mips"), "model": wildcards.model,
            "homogenization": wildcards.homogenization, "parameters_fraction": float(wildcards.fraction),
            "seed": int(wildcards.seed)}


def get_dataset_spec(wildcards):
    return config["datasets"][wildcards.dataset]


# Content digests of the files datasets read from the user (amips.data.input_digest), cached under .snakemake/.
INPUT_DIGESTS = DigestCache(".snakemake/amips/input_digests.json")


def get_dataset_job_spec(wildcards):
    """The dataset entry with the SHA-256 of each file it reads from the user (`input_sha256`), so that a file
    replaced by other content reruns the dataset even with an older or preserved mtime (cp -p, mv, a restore);
    a synthetic entry as it is."""
    spec = get_dataset_spec(wildcards)
    digests = dataset_digests(spec, INPUT_DIGESTS)
    return {**spec, "input_sha256": digests} if digests else spec


def get_labels_config(wildcards):
    """Label settings; the router task uses its own number of k-means clusters."""
    clusters = EXPERIMENTS["router"]["num_clusters"] if wildcards.task == "router" else 1
    return {**config.get("labels", {}), "num_clusters": clusters}


def get_model_config(wildcards):
    """The ModelSpec fields of one run: the named architecture plus the run's wildcards."""
    entry = {k: v for k, v in config["models"][wildcards.model].items() if k != "training"}
    return {**entry, "homogenization": wildcards.homogenization, "parameters_fraction": float(wildcards.fraction)}


def get_training_config(wildcards):
    """Training settings, with the model entry's own `training:` overrides (used by ablations)."""
    return {**config["training"], **config["models"][wildcards.model].get("training", {})}


def get_eval_batch_size(wildcards):
    return config.get("evaluation", {}).get("batch_size", 1024)


def get_eval_conventions(wildcards):
    """Rank-tie and recall@1 % conventions (amips: index/ceil; official preset: strict/floor)."""
    evaluation = config.get("evaluation", {})
    return {"rank_ties": evaluation.get("rank_ties", "index"),
            "recall_at_1pct": evaluation.get("recall_at_1pct", "ceil")}


def get_ivf_config(wildcards):
    return EXPERIMENTS.get("ivf", {})


IVF_SWEEP_SETTINGS = ("k_values", "nprobes", "timing_repeats", "quiet_load")


def get_ivf_sweep_settings():
    """What every IVF sweep of the run shares (natural, projected, controls, hybrid, list routers): k_values, the one
    nprobe grid (experiments.ivf.nprobes, amips.exact.ivf.nprobe_grid) and the timing protocol."""
    ivf = EXPERIMENTS.get("ivf", {})
    return {"k_values": ivf.get("k_values", [1, 10]), **{k: ivf[k] for k in IVF_SWEEP_SETTINGS[1:] if k in ivf}}


def get_controls_config(wildcards):
    return {k: v for k, v in CONTROLS_CONFIG.items() if k not in ("enabled", "names", "ivf_names")}


def get_convex_diagnostics_models(wildcards):
    """The model entries (name → ModelSpec fields, optional `training`) traced by rule convex_diagnostics."""
    return {name: config["models"][name] for name in EXPERIMENTS["convex_diagnostics"]["models"]}


def get_list_router_config(wildcards):
    """Settings of one list router: the LTR block, or the model entry (+ wrapper, budget) and its training."""
    common = get_ivf_sweep_settings()
    if wildcards.get("model") is None:  # ltr or residual: its own block
        return {**common, **{k: v for k, v in LIST_ROUTER.get(wildcards.router, {}).items() if k != "enabled"}}
    entry = config["models"][wildcards.model]
    model = {**{k: v for k, v in entry.items() if k != "training"}, "homogenization": wildcards.homogenization,
             "parameters_fraction": float(LIST_ROUTER.get("parameters_fraction", 0.1))}
    training = {**config["training"], **entry.get("training", {}), **LIST_ROUTER.get("training", {})}
    return {**common, "model": model, "training": training}


def get_list_router_run(wildcards):
    """The identifying fields of a list router, written into its curve file."""
    run = {"dataset": wildcards.dataset, "seed": int(wildcards.seed)}
    if wildcards.get("model") is None:
        names = {"ltr": "router ltr (linear, Vecchiato et al.)",
                 "residual": f"router residual (centroids + rank {LIST_ROUTER.get('residual', {}).get('rank', 64)})",
                 "ellipsoid": f"router ellipsoid (rank {LIST_ROUTER.get('ellipsoid', {}).get('rank', 8)}, untrained)"}
        return {**run, "method": names[wildcards.router]}
    return {**run, "model": wildcards.model, "homogenization": wildcards.homogenization,
            "method": f"router {wildcards.model} ({wildcards.homogenization})"}


def get_ivf_hybrid_config(wildcards):
    return {**get_ivf_sweep_settings(),
            **{k: v for k, v in EXPERIMENTS.get("ivf_hybrid", {}).items() if k not in ("enabled", "models", "seeds")}}
