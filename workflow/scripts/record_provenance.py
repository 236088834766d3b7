"""Snakemake adapter for rule record_provenance → amips.provenance.write_provenance."""
from amips.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.provenance import write_provenance  # noqa: E402

write_provenance(snakemake.output[0], dict(snakemake.params.config), list(snakemake.input.figures),
                 snakemake.params.repo, skipped=dict(snakemake.params.skipped))
