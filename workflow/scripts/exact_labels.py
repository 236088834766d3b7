"""Snakemake adapter for rule exact_labels → amips.pipeline.stages.labels.make_labels (CUDA when the job has a GPU)."""
from pathlib import Path

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.core.runinfo import configure_torch, select_device  # noqa: E402
from amips.pipeline.stages.labels import make_labels  # noqa: E402

device = select_device(snakemake.resources.get("gpu", 0))
configure_torch(snakemake.threads, device)
make_labels(Path(snakemake.input.key_file).parent, Path(snakemake.output.meta).parent, snakemake.params.cfg, device)
