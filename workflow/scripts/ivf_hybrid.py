"""Snakemake adapter for rule ivf_hybrid → amips.pipeline.stages.ivf_experiments.ivf_hybrid."""
from pathlib import Path

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.pipeline.stages.ivf_experiments import ivf_hybrid  # noqa: E402

ivf_hybrid(snakemake.input.model, snakemake.input.key_file, Path(snakemake.input.test_queries).parent,
           snakemake.input.index, snakemake.output.csv, snakemake.params.cfg, snakemake.params.run,
           snakemake.params.training, threads=snakemake.threads, batch_size=snakemake.params.batch_size)
