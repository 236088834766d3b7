"""Snakemake adapter for rules aggregate_ivf / aggregate_router → amips.reporting.tables.aggregate_{ivf,router}."""
from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.pipeline.sections import BudgetSettings  # noqa: E402
from amips.reporting.tables import aggregate_ivf, aggregate_router  # noqa: E402

if snakemake.rule == "aggregate_ivf":
    aggregate_ivf([*snakemake.input.baselines, *snakemake.input.projected, *snakemake.input.controls],
                  snakemake.output.curves, snakemake.output.markdown, BudgetSettings.from_config(snakemake.config).fractions)
else:
    aggregate_router([*snakemake.input.baselines, *snakemake.input.learned], snakemake.output.curves,
                     snakemake.output.markdown)
