"""Snakemake adapter for rule plot_homogenization → amips.pipeline.stages.homogenization (table) and
amips.reporting.homogenization_plot (figure)."""
import pandas as pd

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.models.homogenize import HOMOGENIZATIONS  # noqa: E402
from amips.pipeline.stages.homogenization import homogenization_table, read_coverage  # noqa: E402
from amips.reporting.homogenization_plot import plot_homogenization  # noqa: E402
from amips.pipeline.sweeps import Skip  # noqa: E402
from amips.reporting.tables import write_csv  # noqa: E402

skips = [Skip(s["run"], s["reason"]) for s in snakemake.params.skips]
table = homogenization_table(pd.read_csv(snakemake.input.summary), skips,
                             read_coverage(snakemake.input.coverage, snakemake.params.datasets))
write_csv(table, snakemake.output.table)
plot_homogenization(table, snakemake.output.figure,
                    title=f"Homogenization wrappers ({snakemake.wildcards.name} config): exhaustive search with the "
                          "predicted key", order=HOMOGENIZATIONS)
