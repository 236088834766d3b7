"""Snakemake adapter for rule key_coverage → amips.pipeline.stages.homogenization.dataset_coverage."""
from pathlib import Path

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from threadpoolctl import threadpool_limits  # noqa: E402

from amips.pipeline.stages.homogenization import dataset_coverage  # noqa: E402

with threadpool_limits(snakemake.threads):
    dataset_coverage(snakemake.input.key_file, Path(snakemake.input.train_targets).parent, snakemake.output[0],
                     num_directions=snakemake.params.num_directions)
