# The homogenization ablation (experiments.homogenization): argmax coverage of each dataset's keys, and the
# wrapper × model × dataset table and figure (trained runs and the runs skipped by amips.pipeline.sweeps).


rule key_coverage:
    input:
        key_file=data_file("keys.npy"),
        **labels_files("mips", "train_targets", "test_targets"),
    output:
        dataset_file("coverage.json"),
    log:
        log_file("key_coverage", "{dataset}"),
    benchmark:
        benchmark_file("key_coverage", "{dataset}")
    conda:
        "../../envs/amips.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        num_directions=lambda wildcards: targets.experiments(config)["homogenization"]["num_directions"],
    script:
        "../scripts/key_coverage.py"


rule plot_homogenization:
    input:
        summary=table_file("summary.csv"),
        coverage=[dataset_file("coverage.json", dataset=d) for d in DATASETS],
    output:
        figure=report(figure_file("homogenization.png"), caption="../report/homogenization.rst",
                      category="Figures"),
        table=figure_file("homogenization.csv"),
    log:
        log_file("plot_homogenization", "{name}"),
    benchmark:
        benchmark_file("plot_homogenization", "{name}")
    conda:
        "../../envs/amips.yaml"
    localrule: True
    params:
        datasets=DATASETS,
        skips=[{"run": skip.run, "reason": skip.reason} for skip in targets.skipped_runs(config, "mips")],
    script:
        "../scripts/plot_homogenization.py"
