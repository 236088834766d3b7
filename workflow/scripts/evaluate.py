"""Snakemake adapter for rule evaluate → amips.pipeline.stages.evaluate.evaluate_run."""
from pathlib import Path

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.pipeline.stages.evaluate import evaluate_run  # noqa: E402

evaluate_run(
    model_path=snakemake.input.model,
    keys_path=snakemake.input.key_file,
    labels_dir=Path(snakemake.input.test_queries).parent,
    out_path=snakemake.output.metrics,
    run=snakemake.params.run,
    threads=snakemake.threads,
    batch_size=snakemake.params.batch_size,
    conventions=snakemake.params.conventions,
)
