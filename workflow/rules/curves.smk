rule learning_curves:
    input:
        histories=targets.curve_histories(config),
    output:
        table=figure_file("learning_curves.csv"),
        figure=report(
            figure_file("learning_curves.png"),
            caption="../report/learning_curves.rst",
            category="Figures",
        ),
    log:
        log_file("learning_curves", "{name}"),
    benchmark:
        benchmark_file("learning_curves", "{name}")
    conda:
        "../../envs/amips.yaml"
    localrule: True
    params:
        runs=job(curve_run_fields),
    script:
        "../scripts/learning_curves.py"
