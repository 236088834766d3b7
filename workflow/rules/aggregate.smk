rule aggregate:
    input:
        metrics=get_run_files("metrics.json") + (get_run_files("metrics.json", task="router") if is_enabled("router") else []),
        controls=get_control_files(),
    output:
        runs="results/tables/{name}/runs.csv",
        summary="results/tables/{name}/summary.csv",
        markdown=report(
            "results/tables/{name}/summary.md",
            caption="../report/summary.rst",
            category="Tables",
        ),
    log:
        "logs/aggregate/{name}.log",
    benchmark:
        "results/benchmarks/aggregate/{name}.tsv"
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
        summary="results/tables/{name}/summary.csv",
    output:
        figure=report(
            "results/figures/{name}/match_rate.png",
            caption="../report/match_rate.rst",
            category="Figures",
        ),
        data="results/figures/{name}/match_rate.csv",  # the numbers behind the figure (summary rows it draws)
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


rule plot_compression:
    input:
        summary="results/tables/{name}/summary.csv",
    output:
        figure=report(
            "results/figures/{name}/compression.png",
            caption="../report/compression.rst",
            category="Figures",
        ),
        data="results/figures/{name}/compression.csv",  # the numbers behind the figure (summary rows it draws)
    log:
        "logs/plot_compression/{name}.log",
    benchmark:
        "results/benchmarks/plot_compression/{name}.tsv"
    conda:
        "../../envs/amips.yaml"
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/plot_compression.py"


rule aggregate_ivf:
    input:
        baselines=expand("results/{dataset}/ivf/baselines.csv", dataset=DATASETS),
        projected=get_run_files("ivf.csv"),
        controls=get_control_ivf_files(),
    output:
        curves="results/tables/{name}/ivf.csv",
        markdown=report("results/tables/{name}/ivf.md", caption="../report/ivf.rst", category="Tables"),
    log:
        "logs/aggregate_ivf/{name}.log",
    benchmark:
        "results/benchmarks/aggregate_ivf/{name}.tsv"
    conda:
        "../../envs/amips.yaml"
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        budgets=get_budgets,
    script:
        "../scripts/aggregate_curves.py"


rule plot_ivf:
    input:
        curves="results/tables/{name}/ivf.csv",
    output:
        figure=report("results/figures/{name}/ivf.png", caption="../report/ivf.rst", category="Figures"),
        data="results/figures/{name}/ivf.csv",  # the curves behind the figure
    log:
        "logs/plot_ivf/{name}.log",
    benchmark:
        "results/benchmarks/plot_ivf/{name}.tsv"
    conda:
        "../../envs/amips.yaml"
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/plot_curves.py"


rule aggregate_router:
    input:
        baselines=expand("results/{dataset}/router_baseline.csv", dataset=DATASETS),
        learned=get_run_files("routing.csv", task="router") if is_enabled("router") else [],
    output:
        curves="results/tables/{name}/router.csv",
        markdown=report("results/tables/{name}/router.md", caption="../report/router.rst", category="Tables"),
    log:
        "logs/aggregate_router/{name}.log",
    benchmark:
        "results/benchmarks/aggregate_router/{name}.tsv"
    conda:
        "../../envs/amips.yaml"
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/aggregate_curves.py"


rule plot_router:
    input:
        curves="results/tables/{name}/router.csv",
    output:
        figure=report("results/figures/{name}/router.png", caption="../report/router.rst", category="Figures"),
        data="results/figures/{name}/router.csv",  # the curves behind the figure
    log:
        "logs/plot_router/{name}.log",
    benchmark:
        "results/benchmarks/plot_router/{name}.tsv"
    conda:
        "../../envs/amips.yaml"
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/plot_curves.py"


rule record_provenance:
    input:
        figures=get_figure_files,
        outputs=get_provenance_inputs,  # the run's other outputs: provenance is the last job (its run time)
    output:
        "results/figures/{name}/provenance.yaml",
    log:
        "logs/record_provenance/{name}.log",
    conda:
        "../../envs/amips.yaml"
    localrule: True
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        config=config,
        repo=workflow.basedir,
        skipped=get_skipped_figures(),
    script:
        "../scripts/record_provenance.py"
