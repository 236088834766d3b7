"""Snakemake adapter for rule scaling_controls → amips.pipeline.stages.scaling.scaling_controls_point."""
from pathlib import Path

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.pipeline.stages.scaling import scaling_controls_point  # noqa: E402
from amips.reporting.budgets import Budgets  # noqa: E402

cfg = snakemake.params.cfg
scaling_controls_point(
    keys_path=snakemake.input.key_file,
    labels_dir=Path(snakemake.input.train_queries).parent,
    index_path=snakemake.input.index,
    out_json=snakemake.output.point,
    dataset=snakemake.wildcards.dataset,
    names=cfg["controls"],
    n=int(snakemake.wildcards.n),
    nprobes=cfg["nprobes"],
    cfg=snakemake.params.controls,
    budgets=Budgets.fractions(cfg["budgets"]),
)
