"""Snakemake adapter for rule plot_compression → amips.plots.plot_compression."""
import pandas as pd

from amips.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.plots import plot_compression  # noqa: E402
from amips.tables import write_csv  # noqa: E402

table = pd.read_csv(snakemake.input.summary)  # drawn, and written beside the figure

plot_compression(table, snakemake.output.figure)
write_csv(table, snakemake.output.data)
