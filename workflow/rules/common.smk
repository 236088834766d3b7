# Helpers shared by the rules: sweep expansion, config lookups and cross-checks.
import itertools
import sys

from amips.models.homogenize import HOMOGENIZATIONS
from amips.sweeps import plan_runs, sweep_blocks

EXPERIMENTS = config.get("experiments", {})
# task → its sweep blocks ('mips': plain MIPS; 'router': multi-output models on k-means clusters).
# `sweep` and each of `extra_sweeps` is a cross product; their union is run.
TASKS = sweep_blocks(config)
DATASETS = sorted({d for block in TASKS["mips"] for d in block["datasets"]})


def _check_sweep_names():
    """Fail early, naming the entry, when a sweep refers to an undefined dataset or model."""
    for task, blocks in TASKS.items():
        for kind, sweep in itertools.product(("datasets", "models"), blocks):
            for name in sweep[kind]:
                if name not in config[kind]:
                    raise ValueError(f"config {'sweep' if task == 'mips' else 'experiments.router'}.{kind} names "
                                     f"{name!r}, which is not defined under {kind}: {sorted(config[kind])}")


_check_sweep_names()

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
    return [(RUN_DIR + "/" + filename).format(**run) for run in sweep_runs(task)]


def get_figure_files(wildcards=None):
    """The figures this config produces."""
    figures = ["match_rate"]
    if len({run["fraction"] for run in sweep_runs("mips")}) > 1:
        figures.append("compression")
    figures += [name for name in ("ivf", "router", "homogenization") if is_enabled(name)]
    return [f"{FIGURES_DIR}/{name}.png" for name in figures]


def get_final_outputs():
    outputs = [f"{TABLES_DIR}/summary.csv", f"{TABLES_DIR}/summary.md", f"{FIGURES_DIR}/provenance.yaml"]
    outputs += get_figure_files()
    for name in ("ivf", "router"):
        if is_enabled(name):
            outputs += [f"{TABLES_DIR}/{name}.csv", f"{TABLES_DIR}/{name}.md"]
    return outputs


def get_run_fields(wildcards):
    """The identifying fields of a run, written into its result files."""
    return {"dataset": wildcards.dataset, "task": wildcards.get("task", "mips"), "model": wildcards.model,
            "homogenization": wildcards.homogenization, "parameters_fraction": float(wildcards.fraction),
            "seed": int(wildcards.seed)}


def get_dataset_spec(wildcards):
    return config["datasets"][wildcards.dataset]


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


def get_ivf_config(wildcards):
    return EXPERIMENTS.get("ivf", {})
