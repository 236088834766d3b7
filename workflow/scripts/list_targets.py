"""Snakemake adapter for rule list_targets → amips.pipeline.stages.ivf_experiments.write_list_targets (CUDA when granted)."""
from pathlib import Path

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.pipeline.stages.ivf_experiments import write_list_targets  # noqa: E402
from amips.core.runinfo import select_device  # noqa: E402

write_list_targets(snakemake.input.key_file, Path(snakemake.input.train_queries).parent, snakemake.input.index,
                   snakemake.output.targets, threads=snakemake.threads,
                   device=select_device(snakemake.resources.get("gpu", 0)))
