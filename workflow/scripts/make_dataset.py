"""Snakemake adapter for rule make_dataset → amips.pipeline.stages.data.make_dataset."""
from pathlib import Path

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.pipeline.stages.data import make_dataset  # noqa: E402

make_dataset(snakemake.params.spec, Path(snakemake.output.key_file).parent)
