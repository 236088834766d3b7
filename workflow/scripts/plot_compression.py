"""Snakemake adapter for rule plot_compression → amips.plots.plot_compression."""
import pandas as pd

from amips.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.tables import write_csv  # noqa: E402

from amips.plots import plot_compression  # noqa: E402

plot_compression(pd.read_csv(snakemake.input.summary), snakemake.output.figure)
write_csv(pd.read_csv(snakemake.input.summary), snakemake.output.data)
