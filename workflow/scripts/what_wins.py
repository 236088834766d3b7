"""Snakemake adapter for rule what_wins → amips.pipeline.stages.what_wins."""
from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.pipeline.stages.what_wins import write_what_wins  # noqa: E402
from amips.pipeline.sections import BudgetSettings  # noqa: E402

budgets = BudgetSettings.from_config(snakemake.config)
write_what_wins(list(snakemake.input.curves), snakemake.output.csv, snakemake.output.markdown,
                flops_budgets=budgets.fractions, memory_budgets=budgets.bytes_per_key)
