"""Snakemake adapter for rules convex_diagnostics / plot_convex_diagnostics → amips.pipeline.stages.convex / amips.reporting.plots."""
from pathlib import Path

import pandas as pd

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

import torch  # noqa: E402

if snakemake.rule == "convex_diagnostics":
    from amips.pipeline.stages.convex import convex_diagnostics  # noqa: E402

    torch.set_num_threads(snakemake.threads)
    convex_diagnostics(snakemake.input.key_file, Path(snakemake.input.train_queries).parent, snakemake.output.csv,
                       snakemake.params.models, snakemake.params.training, snakemake.params.cfg)
else:
    from amips.reporting.plots import plot_convex_diagnostics  # noqa: E402

    plot_convex_diagnostics(pd.read_csv(snakemake.input.csv), snakemake.output.figure)
