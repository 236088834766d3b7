# Config and target lists of the index-family experiment (workflow/rules/index_families.smk; included by ../common.smk
# after params.smk): its settings, datasets, the mips runs it searches with their predicted key, and its outputs.
INDEX_FAMILIES = EXPERIMENTS.get("index_families", {})
INDEX_FAMILY_FILTERS = ("enabled", "datasets", "models", "seeds", "parameters_fractions")


def get_index_families_config(wildcards=None):
    """The experiment's settings (amips.experiments.index_families.settings fills in the defaults)."""
    return {k: v for k, v in INDEX_FAMILIES.items() if k not in INDEX_FAMILY_FILTERS}


def index_family_datasets():
    """The datasets of the experiment: experiments.index_families.datasets, default every mips-sweep dataset."""
    if not is_enabled("index_families"):
        return []
    return list(INDEX_FAMILIES.get("datasets", DATASETS))


def index_family_runs():
    """The mips runs searched with their predicted key, less those left out by the models / seeds /
    parameters_fractions filters."""
    datasets = set(index_family_datasets())
    keep = lambda name, value: value in INDEX_FAMILIES[name] if name in INDEX_FAMILIES else True
    return [run for run in sweep_runs("mips") if run["dataset"] in datasets and keep("models", run["model"])
            and keep("seeds", int(run["seed"])) and keep("parameters_fractions", float(run["fraction"]))]


def get_index_family_files(wildcards=None):
    """Every dataset's baselines and every selected run's predicted-key rows."""
    return [f"results/{d}/index_families/baselines.csv" for d in index_family_datasets()] + [
        f"{RUN_DIR}/index_families.csv".format(**run) for run in index_family_runs()]


def get_index_family_outputs():
    """The aggregated table, its Markdown and its figure (none when the experiment is off)."""
    if not index_family_datasets():
        return []
    return [f"{FIGURES_DIR}/index_families.{ext}" for ext in ("csv", "md", "png")]


_undefined = sorted(set(INDEX_FAMILIES.get("datasets", [])) - set(config["datasets"]))
if is_enabled("index_families") and _undefined:
    sys.exit(f"amips: error: config experiments.index_families.datasets: {_undefined} are not defined under datasets")
