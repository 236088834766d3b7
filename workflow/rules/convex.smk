# Early-training diagnostics of SupportNet z-paths (amips.training.convex): loss, gradient norm, key norm, damped weights.


rule convex_diagnostics:
    input:
        unpack(job(convex_diagnostics_inputs)),
    output:
        csv=table_file("convex_diagnostics.csv"),
    log:
        log_file("convex_diagnostics", "{name}"),
    benchmark:
        benchmark_file("convex_diagnostics", "{name}")
    conda:
        "../../envs/amips.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        models=job(convex_diagnostics_models),
        training=config["training"],
        cfg=lambda wildcards: targets.experiments(config)["convex_diagnostics"],
    script:
        "../scripts/convex_diagnostics.py"


rule plot_convex_diagnostics:
    input:
        csv=table_file("convex_diagnostics.csv"),
    output:
        figure=report(figure_file("convex_diagnostics.png"), caption="../report/convex_diagnostics.rst",
                      category="Figures"),
    log:
        log_file("plot_convex_diagnostics", "{name}"),
    benchmark:
        benchmark_file("plot_convex_diagnostics", "{name}")
    conda:
        "../../envs/amips.yaml"
    localrule: True
    script:
        "../scripts/convex_diagnostics.py"
