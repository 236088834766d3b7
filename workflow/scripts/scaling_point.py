"""Snakemake adapter for rule scaling_point → amips.pipeline.stages.scaling.scaling_model_point."""
from pathlib import Path

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.pipeline.stages.scaling import scaling_model_point  # noqa: E402
from amips.reporting.budgets import Budgets  # noqa: E402
from amips.core.runinfo import select_device  # noqa: E402

cfg = snakemake.params.cfg
scaling_model_point(
    keys_path=snakemake.input.key_file,
    labels_dir=Path(snakemake.input.train_queries).parent,
    index_path=snakemake.input.index,
    out_json=snakemake.output.point,
    workdir=Path(snakemake.output.model).parent,
    fields={"dataset": snakemake.wildcards.dataset, "model": snakemake.wildcards.model,
            "kind": snakemake.params.model["kind"]},
    model_cfg=snakemake.params.model,
    training=snakemake.params.training,
    n=int(snakemake.wildcards.n),
    seed=int(snakemake.wildcards.seed),
    nprobes=cfg["nprobes"],
    budgets=Budgets.fractions(cfg["budgets"]),
    device=select_device(snakemake.resources.get("gpu", 0)),
    threads=snakemake.threads,
    batch_size=snakemake.params.batch_size,
)
