"""Snakemake adapter for rules controls / ivf_controls → amips.pipeline.stages.controls.{evaluate_controls, ivf_controls}."""
from pathlib import Path

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.pipeline.stages.controls import evaluate_controls, ivf_controls  # noqa: E402

labels_dir = Path(snakemake.input.train_queries).parent
if snakemake.rule == "controls":
    evaluate_controls(snakemake.input.key_file, labels_dir, dict(zip(snakemake.params.names, snakemake.output.metrics)),
                      snakemake.params.cfg, dataset=snakemake.wildcards.dataset)
else:
    ivf_controls(snakemake.input.key_file, labels_dir, snakemake.output.csv, list(snakemake.params.names),
                 snakemake.params.cfg, snakemake.params.ivf_cfg, dataset=snakemake.wildcards.dataset,
                 threads=snakemake.threads, index_path=snakemake.input.index)
