# Config access (included first by ../common.smk): the config's sections with their defaults, the semantic checks,
# the sweep plan (TASKS, DATASETS, PLANS) and which experiments are enabled.
import itertools
import sys

from amips.training.sweeps import plan_runs, sweep_blocks

from amips.data.io import InputError
from amips.pipeline.config import check_semantics
from amips.pipeline.run_names import check_run_name

EXPERIMENTS = config.get("experiments", {})
# task → its sweep blocks ('mips': plain MIPS; 'router': multi-output models on k-means clusters).
# `sweep` and each of `extra_sweeps` is a cross product; their union is run.
TASKS = sweep_blocks(config)
DATASETS = sorted({d for block in TASKS["mips"] for d in block["datasets"]})


# A run name holds the results of one set of datasets (amips.pipeline.run_names): a config on other datasets under a
# name already used stops here, in one line, before it could overwrite that run's tables and figures (and before the
# checks below, which may need its data files).
try:
    check_run_name(config)
except InputError as _exc:
    sys.exit(f"amips: error: {_exc}")

# Fail before any job runs, naming the entry, on what the schema cannot see (undefined sweep names, bad training
# overrides, counts above the key count, ...): the same checks as `amips check-config`.
check_semantics(config)


# task → (runs, skips): runs whose wrapper does not apply to the model, or is a no-op duplicating a `none` run
# (amips.training.sweeps), are left out with a message instead of being trained.
PLANS = {task: plan_runs(config, blocks, task) for task, blocks in TASKS.items()}
for _skip in dict.fromkeys(skip.line() for _, skips in PLANS.values() for skip in skips):
    print(f"amips: {_skip}", file=sys.stderr)


def is_enabled(experiment):
    return bool(EXPERIMENTS.get(experiment, {}).get("enabled", False))


def sweep_runs(task="mips"):
    """Every (dataset, model, homogenization, fraction, seed) of a task's sweep blocks, once each, as dicts, less
    the skipped ones."""
    yield from PLANS[task][0]


def has_learning_curves():
    """Whether runs are evaluated during training (a validation split exists), so learning curves can be drawn."""
    return config.get("labels", {}).get("validation_fraction", 0.1) > 0


SCALING = EXPERIMENTS.get("data_scaling", {})
SCALING_DEFAULTS = {"nprobes": [1, 2, 4, 8, 16], "controls": ["ridge", "blend"],
                    "homogenization": "radial", "parameters_fraction": 0.01, "seeds": [0]}


def get_scaling_config(wildcards=None):
    """Data-scaling settings with their defaults (amips.experiments.scaling)."""
    return {**SCALING_DEFAULTS, **{k: v for k, v in SCALING.items() if k != "enabled"}}


def scaling_sizes(cfg, dataset):
    """The numbers of training queries n of one dataset (train_queries: a list, or a mapping dataset → list)."""
    sizes = cfg["train_queries"]
    return sizes[dataset] if isinstance(sizes, dict) else sizes


# Controls (amips.evaluation.controls) are on unless a config turns them off: every table and figure shows them.
CONTROLS_CONFIG = EXPERIMENTS.get("controls", {})
CONTROLS_ON = bool(CONTROLS_CONFIG.get("enabled", True))
CONTROL_NAMES = list(CONTROLS_CONFIG.get("names", ["identity", "scalar", "ridge", "blend"]))
CONTROL_IVF_NAMES = list(CONTROLS_CONFIG.get("ivf_names", ["ridge", "blend"]))


# IVF experiments beyond the paper (amips.experiments): hybrid probing, list routers, break-even.
IVF_EXPERIMENTS = ("hybrid", "routers")
LIST_ROUTER = EXPERIMENTS.get("list_router", {})


def ivf_experiment_enabled(experiment):
    """Whether an IVF experiment ('hybrid', 'routers', 'breakeven') runs; all need the IVF baselines."""
    block = {"hybrid": "ivf_hybrid", "routers": "list_router", "breakeven": "breakeven"}[experiment]
    return is_enabled("ivf") and is_enabled(block)
