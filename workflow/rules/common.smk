# Helpers shared by the rules: sweep expansion, config lookups and cross-checks.
import itertools
import sys

from amips.experiments.list_routers import NEEDS_LIST_TARGETS
from amips.input_digest import DigestCache, dataset_digests
from amips.models.homogenize import HOMOGENIZATIONS
from amips.retrieval import uses_retrieval
from amips.sweeps import plan_runs, sweep_blocks

from amips.config import check_semantics

EXPERIMENTS = config.get("experiments", {})
# task → its sweep blocks ('mips': plain MIPS; 'router': multi-output models on k-means clusters).
# `sweep` and each of `extra_sweeps` is a cross product; their union is run.
TASKS = sweep_blocks(config)
DATASETS = sorted({d for block in TASKS["mips"] for d in block["datasets"]})


# Fail before any job runs, naming the entry, on what the schema cannot see (undefined sweep names, bad training
# overrides, counts above the key count, ...): the same checks as `amips check-config`.
check_semantics(config)

# task → (runs, skips): runs whose wrapper does not apply to the model, or is a no-op duplicating a `none` run
# (amips.sweeps), are left out with a message instead of being trained.
PLANS = {task: plan_runs(config, blocks, task) for task, blocks in TASKS.items()}
for _skip in dict.fromkeys(skip.line() for _, skips in PLANS.values() for skip in skips):
    print(f"amips: {_skip}", file=sys.stderr)

RUN_DIR = "results/{dataset}/{task}/{model}/{homogenization}/frac{fraction}/seed{seed}"
LABELS_DIR = "results/{dataset}/labels/{task}"
NAME = config.get("name", "quick")
FIGURES_DIR = f"paper_figures/{NAME}"
TABLES_DIR = f"results/tables/{NAME}"


wildcard_constraints:
    dataset="[A-Za-z0-9_-]+",
    task="mips|router",
    name="[A-Za-z0-9_.-]+",
    model="[A-Za-z0-9_-]+",
    homogenization="|".join(HOMOGENIZATIONS),
    fraction="[0-9.eE+-]+",
    seed="[0-9]+",
    n="[0-9]+",


TEXT_SOURCES = ("wordnet", "wikipedia", "beir")


def dataset_pattern(text):
    """Regex matching the names of text datasets (text=True) or of the other datasets; never-matching if none."""
    names = [n for n, d in config["datasets"].items() if (d["source"] in TEXT_SOURCES) == text]
    return "|".join(names) if names else "(?!x)x"


def is_enabled(experiment):
    return bool(EXPERIMENTS.get(experiment, {}).get("enabled", False))


def sweep_runs(task="mips"):
    """Every (dataset, model, homogenization, fraction, seed) of a task's sweep blocks, once each, as dicts, less
    the skipped ones."""
    yield from PLANS[task][0]


def get_run_files(filename, task="mips"):
    return [f"{RUN_DIR}/{filename}".format(**run) for run in sweep_runs(task)]


def has_learning_curves():
    """Whether runs are evaluated during training (a validation split exists), so learning curves can be drawn."""
    return config.get("labels", {}).get("validation_fraction", 0.1) > 0


def _curve_runs():
    return [run for task in TASKS for run in sweep_runs(task)]


def get_curve_histories(wildcards):
    return [f"{RUN_DIR}/history.json".format(**run) for run in _curve_runs()]


def get_curve_runs(wildcards):
    """The identifying fields of each run of get_curve_histories, in the same order."""
    return [{**run, "parameters_fraction": float(run.pop("fraction")), "seed": int(run["seed"])}
            for run in (dict(r) for r in _curve_runs())]


def get_skipped_figures():
    """Figures this config cannot make, with the reason (recorded in provenance.yaml and printed at start)."""
    skipped = {}
    fractions = {run["fraction"] for run in sweep_runs("mips")}
    if len(fractions) < 2:
        skipped["compression"] = f"needs at least two parameters_fractions in the sweeps, has {len(fractions)}"
    for name in ("ivf", "router"):
        if not is_enabled(name):
            skipped[name] = f"experiments.{name}.enabled is false"
    for figure, block in (("ivf_hybrid", "ivf_hybrid"), ("ivf_routers", "list_router"), ("breakeven", "breakeven")):
        if is_enabled(block) and not is_enabled("ivf"):
            skipped[figure] = f"experiments.{block} needs experiments.ivf, which is off"
    if not has_learning_curves():
        skipped["learning_curves"] = "labels.validation_fraction is 0: runs are not evaluated during training"
    return skipped


def get_figure_files(wildcards=None):
    """The figures this config produces."""
    figures = ["match_rate"]
    if has_learning_curves():
        figures.append("learning_curves")
    if len({run["fraction"] for run in sweep_runs("mips")}) > 1:
        figures.append("compression")
    figures += [name for name in ("ivf", "router", "convex_diagnostics", "homogenization") if is_enabled(name)]
    return [f"{FIGURES_DIR}/{name}.png" for name in figures] + [
        f for f in get_ivf_experiment_outputs() + get_scaling_outputs() if f.endswith(".png")]


SCALING = EXPERIMENTS.get("data_scaling", {})
SCALING_DEFAULTS = {"nprobes": [1, 2, 4, 8, 16], "budgets": [0.05, 0.1, 0.2], "controls": ["ridge", "blend"],
                    "homogenization": "radial", "parameters_fraction": 0.01, "seeds": [0]}


def get_scaling_config(wildcards=None):
    """Data-scaling settings with their defaults (amips.experiments.scaling)."""
    return {**SCALING_DEFAULTS, **{k: v for k, v in SCALING.items() if k != "enabled"}}


def get_scaling_job_config(wildcards):
    """What one data-scaling job uses (not the experiment's lists of datasets, models and sizes, so that adding a
    size does not rerun the others)."""
    cfg = get_scaling_config()
    return {k: cfg[k] for k in ("nprobes", "budgets", "controls")}


def scaling_sizes(cfg, dataset):
    """The numbers of training queries n of one dataset (train_queries: a list, or a mapping dataset → list)."""
    sizes = cfg["train_queries"]
    return sizes[dataset] if isinstance(sizes, dict) else sizes


def get_scaling_model_config(wildcards):
    """The ModelSpec fields of a data-scaling run: the named architecture at the experiment's wrapper and size."""
    cfg = get_scaling_config()
    entry = {k: v for k, v in config["models"][wildcards.model].items() if k != "training"}
    return {**entry, "homogenization": cfg["homogenization"], "parameters_fraction": float(cfg["parameters_fraction"])}


def get_scaling_training(wildcards):
    """Training of a data-scaling run: the training section, the model's overrides, then the experiment's."""
    return {**get_training_config(wildcards), **SCALING.get("training", {})}


def get_scaling_points(wildcards=None):
    """Every data-scaling point file: models × datasets × n × seeds, and the controls at each (dataset, n)."""
    if not is_enabled("data_scaling"):
        return []
    cfg = get_scaling_config()
    files = []
    for dataset in cfg["datasets"]:
        for n in scaling_sizes(cfg, dataset):
            files += [f"results/{dataset}/scaling/{model}/n{n}/seed{seed}/point.json"
                      for model in cfg["models"] for seed in cfg["seeds"]]
            if cfg["controls"]:
                files.append(f"results/{dataset}/scaling/controls/n{n}/point.json")
    return files


def get_scaling_baselines(wildcards=None):
    """Plain IVF of each data-scaling dataset (the natural query), in the order of the experiment's datasets."""
    return [f"results/{dataset}/ivf/baselines.csv" for dataset in get_scaling_config().get("datasets", [])]


def get_scaling_outputs():
    if not is_enabled("data_scaling"):
        return []
    return [f"{FIGURES_DIR}/data_scaling.{ext}" for ext in ("png", "csv", "md")] + [
        f"{FIGURES_DIR}/data_scaling_runs.csv"]


FIGURES_WITH_TABLE_DATA = ("match_rate", "compression", "ivf", "router")  # plot rules that also write a CSV


def get_final_outputs():
    outputs = [f"{TABLES_DIR}/summary.csv", f"{TABLES_DIR}/summary.md", f"{FIGURES_DIR}/provenance.yaml"]
    outputs += get_figure_files()
    outputs += [f"{FIGURES_DIR}/{name}.csv" for name in FIGURES_WITH_TABLE_DATA  # the numbers behind them
                if f"{FIGURES_DIR}/{name}.png" in get_figure_files()]
    if has_learning_curves():
        outputs.append(f"{FIGURES_DIR}/learning_curves.csv")
    for name in ("ivf", "router"):
        if is_enabled(name):
            outputs += [f"{TABLES_DIR}/{name}.csv", f"{TABLES_DIR}/{name}.md"]
    if is_enabled("convex_diagnostics"):
        outputs.append(f"{TABLES_DIR}/convex_diagnostics.csv")
    outputs += [f for f in get_scaling_outputs() if not f.endswith(".png")]
    return outputs + [f for f in get_ivf_experiment_outputs() if not f.endswith(".png")]


def get_run_fields(wildcards):
    """The identifying fields of a run, written into its result files."""
    return {"dataset": wildcards.dataset, "task": wildcards.get("task", "mips"), "model": wildcards.model,
            "homogenization": wildcards.homogenization, "parameters_fraction": float(wildcards.fraction),
            "seed": int(wildcards.seed)}


def get_dataset_spec(wildcards):
    return config["datasets"][wildcards.dataset]


# Content digests of the files datasets read from the user (amips.input_digest), cached under .snakemake/.
INPUT_DIGESTS = DigestCache(".snakemake/amips/input_digests.json")


def get_dataset_job_spec(wildcards):
    """The dataset entry with the SHA-256 of each file it reads from the user (`input_sha256`), so that a file
    replaced by other content reruns the dataset even with an older or preserved mtime (cp -p, mv, a restore);
    a synthetic entry as it is."""
    spec = get_dataset_spec(wildcards)
    digests = dataset_digests(spec, INPUT_DIGESTS)
    return {**spec, "input_sha256": digests} if digests else spec


def get_dataset_inputs(wildcards):
    """The user's embedding files of a `source: npy` dataset (so replacing them reruns it); none otherwise."""
    spec = get_dataset_spec(wildcards)
    return {"user_keys": spec["keys"], "user_queries": spec["queries"]} if spec["source"] == "npy" else {}


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


def get_train_partition(wildcards):
    """The IVF index a model trained with a retrieval term (training.retrieval) trains on; none otherwise."""
    if not uses_retrieval(get_training_config(wildcards).get("retrieval")):
        return {}
    return {"index": f"results/{wildcards.dataset}/ivf/index.faiss"}


def get_eval_batch_size(wildcards):
    return config.get("evaluation", {}).get("batch_size", 1024)


def get_eval_conventions(wildcards):
    """Rank-tie and recall@1 % conventions (amips: index/ceil; official preset: strict/floor)."""
    evaluation = config.get("evaluation", {})
    return {"rank_ties": evaluation.get("rank_ties", "index"),
            "recall_at_1pct": evaluation.get("recall_at_1pct", "ceil")}


def get_ivf_config(wildcards):
    return EXPERIMENTS.get("ivf", {})


# Controls (amips.controls) are on unless a config turns them off: every table and figure shows them.
CONTROLS_CONFIG = EXPERIMENTS.get("controls", {})
CONTROLS_ON = bool(CONTROLS_CONFIG.get("enabled", True))
CONTROL_NAMES = list(CONTROLS_CONFIG.get("names", ["identity", "scalar", "ridge", "blend"]))
CONTROL_IVF_NAMES = list(CONTROLS_CONFIG.get("ivf_names", ["ridge", "blend"]))


def get_controls_config(wildcards):
    return {k: v for k, v in CONTROLS_CONFIG.items() if k not in ("enabled", "names", "ivf_names")}


def get_control_files():
    """The controls' metrics.json of every dataset (empty when controls are off)."""
    if not CONTROLS_ON:
        return []
    return [f"results/{d}/controls/{c}/metrics.json" for d in DATASETS for c in CONTROL_NAMES]


def get_control_ivf_files():
    """The controls' IVF curves of every dataset (empty when controls or their IVF sweep are off)."""
    if not (CONTROLS_ON and CONTROL_IVF_NAMES and is_enabled("ivf")):
        return []
    return [f"results/{d}/controls/ivf.csv" for d in DATASETS]


def get_convex_diagnostics_models(wildcards):
    """The model entries (name → ModelSpec fields, optional `training`) traced by rule convex_diagnostics."""
    return {name: config["models"][name] for name in EXPERIMENTS["convex_diagnostics"]["models"]}


# IVF experiments beyond the paper (amips.experiments): hybrid probing, list routers, break-even.
IVF_EXPERIMENTS = ("hybrid", "routers")
LIST_ROUTER = EXPERIMENTS.get("list_router", {})


def ivf_experiment_enabled(experiment):
    """Whether an IVF experiment ('hybrid', 'routers', 'breakeven') runs; all need the IVF baselines."""
    block = {"hybrid": "ivf_hybrid", "routers": "list_router", "breakeven": "breakeven"}[experiment]
    return is_enabled("ivf") and is_enabled(block)


def get_list_router_files():
    """Routing curves of every list router: the LTR baseline and each AMIPS model entry, per dataset and seed."""
    seeds = LIST_ROUTER.get("seeds", [0])
    files = []
    if LIST_ROUTER.get("ltr", {}).get("enabled", True):
        files += expand("results/{dataset}/list_router/ltr/seed{seed}/routing.csv", dataset=DATASETS, seed=seeds)
    for router in ("residual", "ellipsoid"):  # extensions: off unless enabled
        if LIST_ROUTER.get(router, {}).get("enabled", False):
            files += expand("results/{dataset}/list_router/{router}/seed{seed}/routing.csv", dataset=DATASETS,
                            router=router, seed=seeds)
    files += expand("results/{dataset}/list_router/{model}/{homogenization}/seed{seed}/routing.csv",
                    dataset=DATASETS, model=LIST_ROUTER.get("models", []),
                    homogenization=LIST_ROUTER.get("homogenization", "none"), seed=seeds)
    return files


def get_ivf_experiment_files(wildcards):
    """The per-run curve files of one IVF experiment (wildcards.experiment), besides the baselines."""
    if wildcards.experiment == "hybrid":
        return get_ivf_hybrid_files()
    return get_list_router_files()


def get_ivf_hybrid_files():
    """ivf_hybrid.csv of every mips run, less those left out by experiments.ivf_hybrid.models / seeds."""
    block = EXPERIMENTS.get("ivf_hybrid", {})
    runs = [run for run in sweep_runs("mips") if run["model"] in block.get("models", [run["model"]])
            and int(run["seed"]) in block.get("seeds", [int(run["seed"])])]
    return [f"{RUN_DIR}/ivf_hybrid.csv".format(**run) for run in runs]


def get_ivf_experiment_tables(wildcards):
    """The aggregated curves read by the break-even step (those of the enabled IVF experiments)."""
    return [f"{FIGURES_DIR}/ivf_{e}.csv" for e in IVF_EXPERIMENTS if ivf_experiment_enabled(e)]


def get_ivf_experiment_outputs():
    """Figures, CSVs and tables of the enabled IVF experiments."""
    names = [f"ivf_{e}" for e in IVF_EXPERIMENTS if ivf_experiment_enabled(e)]
    if ivf_experiment_enabled("breakeven") and names:
        names.append("breakeven")
    return [f"{FIGURES_DIR}/{n}.{ext}" for n in names for ext in ("png", "csv", "md")]


def get_fixed_router_targets(wildcards):
    """The shared per-list labels (rule list_targets), for the fixed routers trained on them (residual; not ltr)."""
    if wildcards.router in NEEDS_LIST_TARGETS:
        return {"list_targets": f"results/{wildcards.dataset}/list_router/list_targets.npy"}
    return {}


def get_list_router_config(wildcards):
    """Settings of one list router: the LTR block, or the model entry (+ wrapper, budget) and its training."""
    common = {"k_values": EXPERIMENTS.get("ivf", {}).get("k_values", [1, 10])}
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
    return {"k_values": EXPERIMENTS.get("ivf", {}).get("k_values", [1, 10]),
            **{k: v for k, v in EXPERIMENTS.get("ivf_hybrid", {}).items() if k not in ("enabled", "models", "seeds")}}
