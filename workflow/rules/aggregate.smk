rule aggregate:
    input:
        metrics=get_run_files("metrics.json"),
    output:
        runs="results/tables/runs.csv",
        summary="results/tables/summary.csv",
        markdown=report(
            "results/tables/summary.md",
            caption="../report/summary.rst",
            category="Tables",
        ),
    log:
        "logs/aggregate/aggregate.log",
    benchmark:
        "results/benchmarks/aggregate/aggregate.tsv"
    conda:
        "../../envs/amips.yaml"
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/aggregate.py"


rule plot_match_rate:
    input:
        summary="results/tables/summary.csv",
    output:
        figure=report(
            "paper_figures/{name}/match_rate.png",
            caption="../report/match_rate.rst",
            category="Figures",
        ),
    log:
        "logs/plot_match_rate/{name}.log",
    benchmark:
        "results/benchmarks/plot_match_rate/{name}.tsv"
    conda:
        "../../envs/amips.yaml"
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/plot_match_rate.py"
