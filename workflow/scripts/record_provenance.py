"""Snakemake adapter for rule record_provenance → amips.pipeline.provenance.write_provenance."""
from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.pipeline.provenance import write_provenance  # noqa: E402
from amips.pipeline.run_names import run_time  # noqa: E402
from amips.pipeline.work import run_work  # noqa: E402

config = dict(snakemake.params.config)
write_provenance(snakemake.output[0], config, list(snakemake.input.figures), snakemake.params.repo,
                 skipped=dict(snakemake.params.skipped), run={**(run_time(config["name"]) or {}), "work": run_work(config)})
