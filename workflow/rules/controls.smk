# Controls a learned model must beat (amips.evaluation.controls): identity x, best scalar c·x, ridge map, blend; fitted on the
# training rows (validation carved by source query), evaluated on the test split with the models' metric code.
CONTROL_LABELS = ("train_queries", "train_targets", "train_source", "val_queries", "val_targets", "test_queries",
                  "test_targets")


rule controls:
    input:
        key_file=data_file("keys.npy"),
        **labels_files("mips", *CONTROL_LABELS),
    output:
        metrics=[controls_file(control, "metrics.json") for control in targets.control_names(config)],
    log:
        log_file("controls", "{dataset}"),
    benchmark:
        benchmark_file("controls", "{dataset}")
    conda:
        "../../envs/amips.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=job(controls_config),
        names=targets.control_names(config),
    script:
        "../scripts/controls.py"


rule ivf_controls:
    input:
        index=ivf_file("index.faiss"),
        key_file=data_file("keys.npy"),
        **labels_files("mips", *CONTROL_LABELS),
    output:
        csv=controls_file("ivf.csv"),
    log:
        log_file("ivf_controls", "{dataset}"),
    benchmark:
        benchmark_file("ivf_controls", "{dataset}")
    conda:
        "../../envs/amips.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=job(controls_config),
        ivf_cfg=job(ivf_config),
        names=targets.control_ivf_names(config),
    script:
        "../scripts/controls.py"
