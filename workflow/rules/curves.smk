rule learning_curves:
    input:
        histories=get_curve_histories,
    output:
        table="results/figures/{name}/learning_curves.csv",
        figure=report(
            "results/figures/{name}/learning_curves.png",
            caption="../report/learning_curves.rst",
            category="Figures",
        ),
    log:
        "logs/learning_curves/{name}.log",
    benchmark:
        "results/benchmarks/learning_curves/{name}.tsv"
    conda:
        "../../envs/amips.yaml"
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        runs=get_curve_runs,
    script:
        "../scripts/learning_curves.py"
