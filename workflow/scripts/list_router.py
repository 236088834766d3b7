"""Snakemake adapter for rules list_router_fixed / list_router_amips → amips.pipeline.stages.ivf_experiments.list_router."""
from pathlib import Path

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.pipeline.stages.ivf_experiments import list_router  # noqa: E402

list_router(snakemake.params.kind, snakemake.input.key_file, Path(snakemake.input.test_queries).parent,
            snakemake.input.index, snakemake.output.csv, snakemake.params.cfg, snakemake.params.run,
            Path(snakemake.output.csv).parent, threads=snakemake.threads,
            list_targets_path=snakemake.input.get("list_targets"))
