"""Snakemake adapter for rules index_families_baselines / index_families_learned / aggregate_index_families →
amips.pipeline.stages.index_families."""
from pathlib import Path

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.pipeline.stages import index_families as stages  # noqa: E402

labels_dir = Path(snakemake.input.test_queries).parent if hasattr(snakemake.input, "test_queries") else None
if snakemake.rule == "index_families_baselines":
    stages.baselines(snakemake.input.key_file, labels_dir, snakemake.output.csv, snakemake.output.indexes,
                     snakemake.params.cfg, snakemake.wildcards.dataset)
elif snakemake.rule == "index_families_learned":
    stages.learned(snakemake.input.model, snakemake.input.key_file, labels_dir, snakemake.input.indexes,
                   snakemake.output.csv, snakemake.params.cfg, snakemake.params.run, threads=snakemake.threads,
                   batch_size=snakemake.params.batch_size)
else:
    stages.aggregate(list(snakemake.input.curves), snakemake.output.csv, snakemake.output.markdown,
                     snakemake.output.figure)
