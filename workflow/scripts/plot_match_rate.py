"""Snakemake adapter for rule plot_match_rate → amips.plots.plot_match_rate."""
import pandas as pd

from amips.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.plots import plot_match_rate  # noqa: E402
from amips.tables import write_csv  # noqa: E402

table = pd.read_csv(snakemake.input.summary)  # drawn, and written beside the figure

plot_match_rate(table, snakemake.output.figure,
                title=f"Exhaustive search with the predicted key ({snakemake.wildcards.name} config)")
write_csv(table, snakemake.output.data)
