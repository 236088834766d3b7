"""Snakemake adapter for rules plot_ivf / plot_router → amips.reporting.plots.plot_{ivf,router}."""
import pandas as pd

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.reporting.plots import plot_ivf, plot_router  # noqa: E402
from amips.reporting.tables import write_csv  # noqa: E402

table = pd.read_csv(snakemake.input.curves)  # drawn, and written beside the figure

plot = plot_ivf if snakemake.rule == "plot_ivf" else plot_router
plot(table, snakemake.output.figure)
write_csv(table, snakemake.output.data)
