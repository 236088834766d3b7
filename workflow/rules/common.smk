# Shared by the rules (the Snakefile includes it first): the checks a config must pass before any job runs, the
# wildcard constraints, and `job`, which binds this config to a params or input function. The logic lives in the
# package, unit-tested without Snakemake: target lists in amips.pipeline.targets, path patterns in
# amips.pipeline.paths, what each job is given in amips.pipeline.job_params, the checks in amips.pipeline.config_checks.
import sys
from functools import partial

from amips.data.input_digest import DigestCache
from amips.data.io import InputError
from amips.models.homogenize import HOMOGENIZATIONS
from amips.pipeline import targets
from amips.pipeline.config import check_semantics
from amips.pipeline.job_params import (
    controls_config, convex_diagnostics_inputs, convex_diagnostics_models, curve_run_fields, dataset_inputs,
    dataset_job_spec, eval_batch_size, eval_conventions, fixed_router_targets, index_families_config,
    ivf_config, ivf_experiment_files, ivf_hybrid_config, labels_config, list_router_config, list_router_run,
    model_config, run_fields, scaling_job_config, scaling_model_config, scaling_training, train_partition,
    training_config, budgets,
)
from amips.pipeline.paths import (
    EMBEDDING_CACHE, INPUT_DIGESTS, benchmark_file, controls_file, data_file, data_files, dataset_file,
    figure_file, index_families_file, ivf_file, labels_files, list_router_file, log_file, published_dir, run_file,
    run_key, scaling_file, table_file,
)
from amips.pipeline.run_names import check_run_name

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

# Runs whose wrapper does not apply to the model, or is a no-op duplicating a `none` run, are left out with a message.
for _line in targets.skip_lines(config):
    print(f"amips: {_line}", file=sys.stderr)

NAME = targets.run_name(config)
DATASETS = targets.datasets(config)
RUN_KEY = run_key()  # the wildcards of one trained run, as in its folder
ONE_TASK_RUN_KEY = run_key(task=None)  # the same for the rules that only see mips runs (their logs)
INPUT_DIGEST_CACHE = DigestCache(INPUT_DIGESTS)  # content digests of the user's files, kept between runs


def job(function, *args):
    """`function(config, *args, wildcards)` of amips.pipeline.job_params as this workflow's params or input function."""
    return partial(function, config, *args)


wildcard_constraints:
    dataset="[A-Za-z0-9_-]+",
    task="mips|router",
    name="[A-Za-z0-9_.-]+",
    model="[A-Za-z0-9_-]+",
    homogenization="|".join(HOMOGENIZATIONS),
    fraction="[0-9.eE+-]+",
    seed="[0-9]+",
    n="[0-9]+",
