# `snakemake publish` (`make publish`): copy a finished run into the tracked paper_figures/<name>/ — its figures,
# their CSVs and Markdown, provenance.yaml and its tables (amips.pipeline.targets.published_files) — each file
# atomically, removing the files of that folder the run no longer makes (README.md kept). Not part of the default
# target: `snakemake` alone writes only under results/. Builds what is missing first; no output, so it copies again
# each time it is asked.


rule publish:
    input:
        targets.published_files(config),
    params:
        dest=published_dir(NAME),
    log:
        log_file("publish", NAME),
    conda:
        "../../envs/amips.yaml"
    localrule: True
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../scripts/publish.py"
