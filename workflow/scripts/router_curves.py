"""Snakemake adapter for rules router_baseline / router_learned → amips.pipeline.stages.router.router_curves."""
from pathlib import Path

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.pipeline.stages.router import router_curves  # noqa: E402

learned = "model" in snakemake.input.keys()
router_curves(snakemake.input.key_file, Path(snakemake.input.test_queries).parent, snakemake.output.csv,
              model_path=snakemake.input.model if learned else None,
              run=snakemake.params.run if learned else {"dataset": snakemake.wildcards.dataset},
              threads=snakemake.threads,
              **({"batch_size": snakemake.params.batch_size} if learned else {}))  # the baseline runs no network
