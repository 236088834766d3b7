# `snakemake publish` (`make publish`): copy a finished run into the tracked paper_figures/<name>/ — its figures,
# their CSVs and Markdown, provenance.yaml and its tables (get_published_files) — each file atomically, removing the
# files of that folder the run no longer makes (README.md kept). Not part of the default target: `snakemake` alone
# writes only under results/. Builds what is missing first; no output, so it copies again each time it is asked.


rule publish:
    input:
        get_published_files(),
    params:
        dest=PUBLISHED_DIR,
    log:
        f"logs/publish/{NAME}.log",
    conda:
        "../../envs/amips.yaml"
    localrule: True
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../scripts/publish.py"
