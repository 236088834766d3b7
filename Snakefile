# amips: amortized maximum inner product search with learned support functions.
# Run `snakemake` (profile profiles/default is picked up automatically); see README.md.
import sys

from snakemake.utils import min_version, validate

from amips.pipeline.config_limits import check_loaded

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
include: "workflow/rules/curves.smk"
include: "workflow/rules/scaling.smk"
include: "workflow/rules/homogenization.smk"
include: "workflow/rules/benchmark.smk"


onstart:
    for figure, reason in get_skipped_figures().items():
        print(f"amips: figure {figure} is skipped: {reason}", file=sys.stderr)


rule all:
    default_target: True
    input:
        get_final_outputs(),
