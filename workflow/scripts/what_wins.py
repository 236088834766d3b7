"""Snakemake adapter for rule what_wins → amips.experiments.what_wins."""
from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.experiments.what_wins import FLOPS_BUDGETS, write_what_wins  # noqa: E402

cfg = snakemake.params.cfg
write_what_wins(list(snakemake.input.curves), snakemake.output.csv, snakemake.output.markdown,
                flops_budgets=tuple(cfg.get("flops_budgets", FLOPS_BUDGETS)),
                memory_budgets=tuple(cfg.get("memory_budgets", ())))
