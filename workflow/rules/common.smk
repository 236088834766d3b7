# Helpers shared by the rules: sweep expansion, config lookups and cross-checks.
import itertools


def _check_sweep_names():
    """Fail early, naming the entry, when the sweep refers to an undefined dataset or model."""
    for kind in ("datasets", "models"):
        for name in config["sweep"][kind]:
            if name not in config[kind]:
                raise ValueError(f"config sweep.{kind} names {name!r}, which is not defined under {kind}: "
                                 f"{sorted(config[kind])}")


_check_sweep_names()

SWEEP = config["sweep"]
RUN_DIR = "results/{dataset}/runs/{model}/{homogenization}/frac{fraction}/seed{seed}"


wildcard_constraints:
    dataset="[A-Za-z0-9_-]+",
    model="[A-Za-z0-9_-]+",
    homogenization="none|radial",
    fraction="[0-9.eE+-]+",
    seed="[0-9]+",


def sweep_runs():
    """Every (dataset, model, homogenization, fraction, seed) of the sweep, as wildcard dicts."""
    for dataset, model, hom, fraction, seed in itertools.product(
        SWEEP["datasets"], SWEEP["models"], SWEEP.get("homogenizations", ["radial"]),
        SWEEP.get("parameters_fractions", [0.2]), SWEEP["seeds"]):
        yield dict(dataset=dataset, model=model, homogenization=hom, fraction=fraction, seed=seed)


def get_run_files(filename):
    return [(RUN_DIR + "/" + filename).format(**run) for run in sweep_runs()]


def get_final_outputs():
    return [
        "results/tables/summary.csv",
        "results/tables/summary.md",
        f"paper_figures/{config.get('name', 'quick')}/match_rate.png",
    ]


def get_dataset_spec(wildcards):
    return config["datasets"][wildcards.dataset]


def get_labels_config(wildcards):
    return config.get("labels", {})


def get_model_config(wildcards):
    """The ModelSpec fields of one run: the named architecture plus the run's wildcards."""
    return {
        **config["models"][wildcards.model],
        "homogenization": wildcards.homogenization,
        "parameters_fraction": float(wildcards.fraction),
    }


def get_training_config(wildcards):
    return config["training"]


def get_eval_batch_size(wildcards):
    return config.get("evaluation", {}).get("batch_size", 1024)
