"""Snakemake adapter for rule plot_compression → amips.reporting.plots.plot_compression."""
import pandas as pd

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.reporting.plots import plot_compression  # noqa: E402
from amips.reporting.tables import write_csv  # noqa: E402

table = pd.read_csv(snakemake.input.summary)  # drawn, and written beside the figure

plot_compression(table, snakemake.output.figure)
write_csv(table, snakemake.output.data)
