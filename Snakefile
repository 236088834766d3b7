# amips: amortized maximum inner product search with learned support functions.
# Run `snakemake` (profile profiles/default is picked up automatically); see README.md. A run writes only under
# results/ (figures: results/figures/<name>/); `snakemake publish` copies a finished run to paper_figures/<name>/.
import sys

from snakemake.utils import min_version, validate

from amips.pipeline.config_limits import check_loaded
from amips.pipeline.run_names import record_run

min_version("9.0")


configfile: "config.yaml"


# Before the schema, which would walk every node of an alias bomb: bounded size, file-name-safe names, no NaN/Inf.
check_loaded(config)
validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/labels.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/controls.smk"
include: "workflow/rules/convex.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/ivf.smk"
include: "workflow/rules/router.smk"
include: "workflow/rules/ivf_experiments.smk"
include: "workflow/rules/index_families.smk"
include: "workflow/rules/what_wins.smk"
include: "workflow/rules/curves.smk"
include: "workflow/rules/scaling.smk"
include: "workflow/rules/homogenization.smk"
include: "workflow/rules/benchmark.smk"
include: "workflow/rules/publish.smk"


onstart:
    for figure, reason in targets.skipped_figures(config).items():
        print(f"amips: figure {figure} is skipped: {reason}", file=sys.stderr)
    # claim the run name for this config's datasets (checked when the workflow loads) and note the start time
    record_run(config, workflow.configfiles)


rule all:
    default_target: True
    input:
        targets.final_outputs(config),
