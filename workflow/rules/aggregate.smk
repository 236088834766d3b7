rule aggregate:
    input:
        metrics=targets.run_files(config, "metrics.json") + targets.run_files(config, "metrics.json", task="router"),
        controls=targets.control_files(config),
    output:
        runs=table_file("runs.csv"),
        summary=table_file("summary.csv"),
        markdown=report(
            table_file("summary.md"),
            caption="../report/summary.rst",
            category="Tables",
        ),
    log:
        log_file("aggregate", "{name}"),
    benchmark:
        benchmark_file("aggregate", "{name}")
    conda:
        "../../envs/amips.yaml"
    localrule: True
    script:
        "../scripts/aggregate.py"


rule plot_match_rate:
    input:
        summary=table_file("summary.csv"),
    output:
        figure=report(
            figure_file("match_rate.png"),
            caption="../report/match_rate.rst",
            category="Figures",
        ),
        data=figure_file("match_rate.csv"),  # the numbers behind the figure (summary rows it draws)
    log:
        log_file("plot_match_rate", "{name}"),
    benchmark:
        benchmark_file("plot_match_rate", "{name}")
    conda:
        "../../envs/amips.yaml"
    localrule: True
    script:
        "../scripts/plot_match_rate.py"


rule plot_compression:
    input:
        summary=table_file("summary.csv"),
    output:
        figure=report(
            figure_file("compression.png"),
            caption="../report/compression.rst",
            category="Figures",
        ),
        data=figure_file("compression.csv"),  # the numbers behind the figure (summary rows it draws)
    log:
        log_file("plot_compression", "{name}"),
    benchmark:
        benchmark_file("plot_compression", "{name}")
    conda:
        "../../envs/amips.yaml"
    localrule: True
    script:
        "../scripts/plot_compression.py"


rule aggregate_ivf:
    input:
        baselines=[ivf_file("baselines.csv", dataset=d) for d in DATASETS],
        projected=targets.run_files(config, "ivf.csv"),
        controls=targets.control_ivf_files(config),
    output:
        curves=table_file("ivf.csv"),
        markdown=report(table_file("ivf.md"), caption="../report/ivf.rst", category="Tables"),
    log:
        log_file("aggregate_ivf", "{name}"),
    benchmark:
        benchmark_file("aggregate_ivf", "{name}")
    conda:
        "../../envs/amips.yaml"
    localrule: True
    params:
        budgets=job(budgets),
    script:
        "../scripts/aggregate_curves.py"


rule plot_ivf:
    input:
        curves=table_file("ivf.csv"),
    output:
        figure=report(figure_file("ivf.png"), caption="../report/ivf.rst", category="Figures"),
        data=figure_file("ivf.csv"),  # the curves behind the figure
    log:
        log_file("plot_ivf", "{name}"),
    benchmark:
        benchmark_file("plot_ivf", "{name}")
    conda:
        "../../envs/amips.yaml"
    localrule: True
    script:
        "../scripts/plot_curves.py"


rule aggregate_router:
    input:
        baselines=[dataset_file("router_baseline.csv", dataset=d) for d in DATASETS],
        learned=targets.run_files(config, "routing.csv", task="router"),
    output:
        curves=table_file("router.csv"),
        markdown=report(table_file("router.md"), caption="../report/router.rst", category="Tables"),
    log:
        log_file("aggregate_router", "{name}"),
    benchmark:
        benchmark_file("aggregate_router", "{name}")
    conda:
        "../../envs/amips.yaml"
    localrule: True
    script:
        "../scripts/aggregate_curves.py"


rule plot_router:
    input:
        curves=table_file("router.csv"),
    output:
        figure=report(figure_file("router.png"), caption="../report/router.rst", category="Figures"),
        data=figure_file("router.csv"),  # the curves behind the figure
    log:
        log_file("plot_router", "{name}"),
    benchmark:
        benchmark_file("plot_router", "{name}")
    conda:
        "../../envs/amips.yaml"
    localrule: True
    script:
        "../scripts/plot_curves.py"


rule record_provenance:
    input:
        figures=targets.figure_files(config),
        outputs=targets.provenance_inputs(config),  # the run's other outputs: provenance is the last job (its run time)
    output:
        figure_file("provenance.yaml"),
    log:
        log_file("record_provenance", "{name}"),
    conda:
        "../../envs/amips.yaml"
    localrule: True
    resources:
        mem_mb=500,
        runtime=5,
    params:
        config=config,
        repo=workflow.basedir,
        skipped=targets.skipped_figures(config),
    script:
        "../scripts/record_provenance.py"
