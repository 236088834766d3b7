"""Snakemake adapter for rules aggregate_ivf_experiment / plot_ivf_experiment / breakeven → amips.experiments."""
import pandas as pd

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.reporting.experiment_plots import plot_ivf_experiment  # noqa: E402
from amips.pipeline.stages.ivf_experiments import aggregate_experiment, breakeven  # noqa: E402
from amips.pipeline.sections import BudgetSettings  # noqa: E402

TITLES = {"hybrid": "Hybrid IVF: probe with the predicted key, rank with the query",
          "routers": "Routers over the IVF lists vs plain IVF and the linear LTR router"}

if snakemake.rule == "aggregate_ivf_experiment":
    aggregate_experiment([*snakemake.input.baselines, *snakemake.input.curves], snakemake.output.curves,
                         snakemake.output.markdown, TITLES[snakemake.wildcards.experiment],
                         BudgetSettings.from_config(snakemake.config).fractions)
elif snakemake.rule == "plot_ivf_experiment":
    plot_ivf_experiment(pd.read_csv(snakemake.input.curves), snakemake.output.figure,
                        TITLES[snakemake.wildcards.experiment])
else:
    breakeven(list(snakemake.input.curves), snakemake.output.csv, snakemake.output.markdown,
              snakemake.output.figure, list(snakemake.params.recalls))
