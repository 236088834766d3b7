"""Snakemake adapter for rule embed → amips.data.text.build_text_dataset (all-MiniLM-L6-v2, offline, cached)."""
from pathlib import Path

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])

from amips.data.text import build_text_dataset  # noqa: E402

spec = snakemake.params.spec
build_text_dataset(
    spec["source"], Path(snakemake.output.key_file).parent, num_keys=spec.get("num_keys"),
    variant=spec.get("variant"), root=spec.get("root"), batch_size=spec["batch_size"],
    threads=snakemake.threads, cache_dir=snakemake.params.cache_dir, seed=spec["seed"],
    normalize=spec["normalize"],
)
