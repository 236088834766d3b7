# Output paths, wildcard patterns and target lists (included by ../common.smk after config.smk): where results go,
# the wildcard constraints, and the input functions and target lists the rules and `rule all` expand.
from amips.experiments.list_routers import NEEDS_LIST_TARGETS
from amips.models.homogenize import HOMOGENIZATIONS
from amips.training.retrieval import uses_retrieval

RUN_DIR = "results/{dataset}/{task}/{model}/{homogenization}/frac{fraction}/seed{seed}"
LABELS_DIR = "results/{dataset}/labels/{task}"
NAME = config.get("name", "quick")
# A run writes only under results/ (git-ignored): its figures, their CSVs and provenance.yaml to FIGURES_DIR, its
# tables to TABLES_DIR. `snakemake publish` (rule publish) copies a finished run into the tracked PUBLISHED_DIR.
FIGURES_DIR = f"results/figures/{NAME}"
TABLES_DIR = f"results/tables/{NAME}"
PUBLISHED_DIR = f"paper_figures/{NAME}"


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


def get_run_files(filename, task="mips"):
    return [f"{RUN_DIR}/{filename}".format(**run) for run in sweep_runs(task)]


def _curve_runs():
    return [run for task in TASKS for run in sweep_runs(task)]


def get_curve_histories(wildcards):
    return [f"{RUN_DIR}/history.json".format(**run) for run in _curve_runs()]


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
    outputs += get_index_family_outputs()  # table, Markdown and figure (workflow/rules/index_families.smk)
    outputs += get_what_wins_outputs()  # what wins where (workflow/rules/what_wins.smk)
    return outputs + [f for f in get_ivf_experiment_outputs() if not f.endswith(".png")]


def get_provenance_inputs(wildcards=None):
    """Every final output but provenance.yaml itself: it is recorded last, so its run time covers the whole run."""
    return [f for f in get_final_outputs() if f != f"{FIGURES_DIR}/provenance.yaml"]


def get_published_files(wildcards=None):
    """What `snakemake publish` copies to PUBLISHED_DIR: the run's files of FIGURES_DIR, then its tables (runs.csv and
    the final ones of TABLES_DIR) whose names FIGURES_DIR does not use (its ivf.csv and router.csv are the curves
    drawn, kept over the tables of the same name)."""
    outputs = get_final_outputs()
    figures = [f for f in outputs if f.startswith(f"{FIGURES_DIR}/")]
    taken = {f.rsplit("/", 1)[1] for f in figures}
    tables = [f for f in outputs + [f"{TABLES_DIR}/runs.csv"] if f.startswith(f"{TABLES_DIR}/")]
    return figures + [f for f in dict.fromkeys(tables) if f.rsplit("/", 1)[1] not in taken]


def get_dataset_inputs(wildcards):
    """The user's embedding files of a `source: npy` dataset (so replacing them reruns it); none otherwise."""
    spec = get_dataset_spec(wildcards)
    return {"user_keys": spec["keys"], "user_queries": spec["queries"]} if spec["source"] == "npy" else {}


def get_train_partition(wildcards):
    """The IVF index a model trained with a retrieval term (training.retrieval) trains on; none otherwise."""
    if not uses_retrieval(get_training_config(wildcards).get("retrieval")):
        return {}
    return {"index": f"results/{wildcards.dataset}/ivf/index.faiss"}


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


def get_list_router_files():
    """Routing curves of every list router: the LTR baseline and each AMIPS model entry, per dataset and seed."""
    seeds = LIST_ROUTER.get("seeds", [0])
    datasets = LIST_ROUTER.get("datasets", DATASETS)
    files = []
    if LIST_ROUTER.get("ltr", {}).get("enabled", True):
        files += expand("results/{dataset}/list_router/ltr/seed{seed}/routing.csv", dataset=datasets, seed=seeds)
    for router in ("residual", "ellipsoid"):  # extensions: off unless enabled
        if LIST_ROUTER.get(router, {}).get("enabled", False):
            files += expand("results/{dataset}/list_router/{router}/seed{seed}/routing.csv", dataset=datasets,
                            router=router, seed=seeds)
    files += expand("results/{dataset}/list_router/{model}/{homogenization}/seed{seed}/routing.csv",
                    dataset=datasets, model=LIST_ROUTER.get("models", []),
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
