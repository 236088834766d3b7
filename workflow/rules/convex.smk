# Early-training diagnostics of SupportNet z-paths (amips.training.convex): loss, gradient norm, key norm, damped weights.


rule convex_diagnostics:
    input:
        key_file=lambda w: f"results/{EXPERIMENTS['convex_diagnostics']['dataset']}/data/keys.npy",
        train_queries=lambda w: f"results/{EXPERIMENTS['convex_diagnostics']['dataset']}/labels/mips/train_queries.npy",
        train_targets=lambda w: f"results/{EXPERIMENTS['convex_diagnostics']['dataset']}/labels/mips/train_targets.npy",
    output:
        csv="results/tables/{name}/convex_diagnostics.csv",
    log:
        "logs/convex_diagnostics/{name}.log",
    benchmark:
        "results/benchmarks/convex_diagnostics/{name}.tsv"
    conda:
        "../../envs/amips.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        models=get_convex_diagnostics_models,
        training=config["training"],
        cfg=lambda w: EXPERIMENTS["convex_diagnostics"],
    script:
        "../scripts/convex_diagnostics.py"


rule plot_convex_diagnostics:
    input:
        csv="results/tables/{name}/convex_diagnostics.csv",
    output:
        figure=report("results/figures/{name}/convex_diagnostics.png", caption="../report/convex_diagnostics.rst",
                      category="Figures"),
    log:
        "logs/plot_convex_diagnostics/{name}.log",
    benchmark:
        "results/benchmarks/plot_convex_diagnostics/{name}.tsv"
    conda:
        "../../envs/amips.yaml"
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/convex_diagnostics.py"
