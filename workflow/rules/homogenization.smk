# The homogenization ablation (experiments.homogenization): argmax coverage of each dataset's keys, and the
# wrapper × model × dataset table and figure (trained runs and the runs skipped by amips.training.sweeps).


rule key_coverage:
    input:
        key_file="results/{dataset}/data/keys.npy",
        train_targets="results/{dataset}/labels/mips/train_targets.npy",
        test_targets="results/{dataset}/labels/mips/test_targets.npy",
    output:
        "results/{dataset}/coverage.json",
    log:
        "logs/key_coverage/{dataset}.log",
    benchmark:
        "results/benchmarks/key_coverage/{dataset}.tsv"
    conda:
        "../../envs/amips.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        num_directions=lambda wildcards: EXPERIMENTS["homogenization"].get("num_directions", 20000),
    script:
        "../scripts/key_coverage.py"


rule plot_homogenization:
    input:
        summary="results/tables/{name}/summary.csv",
        coverage=expand("results/{dataset}/coverage.json", dataset=DATASETS),
    output:
        figure=report("results/figures/{name}/homogenization.png", caption="../report/homogenization.rst",
                      category="Figures"),
        table="results/figures/{name}/homogenization.csv",
    log:
        "logs/plot_homogenization/{name}.log",
    benchmark:
        "results/benchmarks/plot_homogenization/{name}.tsv"
    conda:
        "../../envs/amips.yaml"
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        datasets=DATASETS,
        skips=[{"run": skip.run, "reason": skip.reason} for skip in PLANS["mips"][1]],
    script:
        "../scripts/plot_homogenization.py"
