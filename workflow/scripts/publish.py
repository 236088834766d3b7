"""Snakemake adapter for rule publish → amips.pipeline.provenance.publish_run."""
import logging

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.pipeline.provenance import publish_run  # noqa: E402

done = publish_run(list(snakemake.input), snakemake.params.dest)
line = f"amips: published {len(done['copied'])} files to {snakemake.params.dest}/" + (
    f" (removed what the run no longer makes: {', '.join(done['removed'])})" if done["removed"] else "")
logging.getLogger("amips.publish").info(line)
print(line)
