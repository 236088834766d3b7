"""Snakemake adapter for rule learning_curves → amips.reporting.curves.learning_curves."""
from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.reporting.curves import learning_curves  # noqa: E402

learning_curves(snakemake.input.histories, snakemake.params.runs, snakemake.output.table, snakemake.output.figure,
                title=f"Learning curves ({snakemake.wildcards.name} config): validation solid, training dashed")
