"""Snakemake adapter for rule train → amips.pipeline.stages.train.train_run (CUDA when the job has a GPU)."""
from pathlib import Path

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.models import ModelSpec  # noqa: E402
from amips.core.runinfo import select_device  # noqa: E402
from amips.pipeline.stages.train import train_run  # noqa: E402
from amips.training.train import TrainSpec  # noqa: E402

train_run(
    keys_path=snakemake.input.key_file,
    labels_dir=Path(snakemake.input.train_queries).parent,
    out_dir=Path(snakemake.output.model).parent,
    model_spec=ModelSpec.from_dict(snakemake.params.model),
    train_spec=TrainSpec.from_dict(snakemake.params.training),
    seed=int(snakemake.wildcards.seed),
    device=select_device(snakemake.resources.get("gpu", 0)),
    threads=snakemake.threads,
    eval_batch_size=snakemake.params.eval_batch_size,
    partition_path=snakemake.input.get("index"),
)
