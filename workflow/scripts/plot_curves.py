"""Snakemake adapter for rules plot_ivf / plot_router → amips.plots.plot_{ivf,router}."""
import pandas as pd

from amips.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.tables import write_csv  # noqa: E402

from amips.plots import plot_ivf, plot_router  # noqa: E402

plot = plot_ivf if snakemake.rule == "plot_ivf" else plot_router
plot(pd.read_csv(snakemake.input.curves), snakemake.output.figure)
write_csv(pd.read_csv(snakemake.input.curves), snakemake.output.data)
