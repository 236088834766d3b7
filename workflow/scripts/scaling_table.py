"""Snakemake adapter for rule scaling_table → amips.pipeline.stages.scaling.scaling_table."""
from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.pipeline.stages.scaling import scaling_table  # noqa: E402
from amips.pipeline.sections import BudgetSettings  # noqa: E402

scaling_table(
    point_files=list(snakemake.input.points),
    baseline_files=dict(zip(snakemake.params.datasets, snakemake.input.baselines)),
    out_csv=snakemake.output.csv,
    out_points_csv=snakemake.output.points,
    out_md=snakemake.output.md,
    figure=snakemake.output.figure,
    budgets=BudgetSettings.from_config(snakemake.config).fractions,
)
