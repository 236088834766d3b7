"""Snakemake adapter for rule plot_match_rate → amips.reporting.plots.plot_match_rate."""
import pandas as pd

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.reporting.plots import plot_match_rate  # noqa: E402
from amips.reporting.tables import write_csv  # noqa: E402

table = pd.read_csv(snakemake.input.summary)  # drawn, and written beside the figure

plot_match_rate(table, snakemake.output.figure,
                title=f"Exhaustive search with the predicted key ({snakemake.wildcards.name} config)")
write_csv(table, snakemake.output.data)
