"""Snakemake adapter for rule ivf_projected → amips.pipeline.stages.ivf.ivf_projected."""
from pathlib import Path

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.pipeline.stages.ivf import ivf_projected  # noqa: E402

ivf_projected(snakemake.input.model, snakemake.input.key_file, Path(snakemake.input.test_queries).parent,
              snakemake.output.csv, snakemake.params.cfg, snakemake.params.run, threads=snakemake.threads,
              batch_size=snakemake.params.batch_size, index_path=snakemake.input.index)
