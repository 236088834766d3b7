"""Snakemake adapter for rule ivf_baselines → amips.pipeline.stages.ivf.ivf_baselines."""
from pathlib import Path

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.pipeline.stages.ivf import ivf_baselines  # noqa: E402

ivf_baselines(snakemake.input.key_file, Path(snakemake.input.test_queries).parent, snakemake.output.csv,
              snakemake.params.cfg, dataset=snakemake.wildcards.dataset, threads=snakemake.threads,
              index_path=snakemake.output.index)
