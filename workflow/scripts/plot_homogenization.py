"""Snakemake adapter for rule plot_homogenization → amips.experiments.homogenization_figure."""
import pandas as pd

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.experiments.homogenization_figure import homogenization_table, plot_homogenization, read_coverage  # noqa: E402
from amips.training.sweeps import Skip  # noqa: E402
from amips.reporting.tables import write_csv  # noqa: E402

skips = [Skip(s["run"], s["reason"]) for s in snakemake.params.skips]
table = homogenization_table(pd.read_csv(snakemake.input.summary), skips,
                             read_coverage(snakemake.input.coverage, snakemake.params.datasets))
write_csv(table, snakemake.output.table)
plot_homogenization(table, snakemake.output.figure,
                    title=f"Homogenization wrappers ({snakemake.wildcards.name} config): exhaustive search with the "
                          "predicted key")
