"""Snakemake adapter for rule aggregate → amips.reporting.tables.aggregate."""
from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.reporting.tables import aggregate  # noqa: E402

aggregate([*snakemake.input.metrics, *snakemake.input.controls], snakemake.output.runs, snakemake.output.summary, snakemake.output.markdown)
