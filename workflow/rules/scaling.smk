# Data scaling (amips.experiments.scaling): each model and the refitted controls trained on the first n distinct
# training queries (nested subsets), evaluated on the fixed test split; table, CSVs and figure over n.
SCALING_LABELS = ("train_queries", "train_targets", "train_source", "val_queries", "test_queries")


rule scaling_point:
    input:
        key_file=data_file("keys.npy"),
        index=ivf_file("index.faiss"),
        **labels_files("mips", *SCALING_LABELS),
    output:
        point=scaling_file("{model}", "n{n}", "seed{seed}", "point.json"),
        model=scaling_file("{model}", "n{n}", "seed{seed}", "model.pt"),
    log:
        log_file("scaling_point", "{dataset}/{model}/n{n}/seed{seed}"),
    benchmark:
        benchmark_file("scaling_point", "{dataset}/{model}/n{n}/seed{seed}")
    conda:
        "../../envs/amips.yaml"
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=1,  # used when granted (--resources gpu=1, or the slurm profile) and CUDA is available
    params:
        model=job(scaling_model_config),
        training=job(scaling_training),
        cfg=job(scaling_job_config),
        batch_size=job(eval_batch_size),
    script:
        "../scripts/scaling_point.py"


rule scaling_controls:
    input:
        key_file=data_file("keys.npy"),
        index=ivf_file("index.faiss"),
        **labels_files("mips", *SCALING_LABELS),
    output:
        point=scaling_file("controls", "n{n}", "point.json"),
    log:
        log_file("scaling_controls", "{dataset}/n{n}"),
    benchmark:
        benchmark_file("scaling_controls", "{dataset}/n{n}")
    conda:
        "../../envs/amips.yaml"
    resources:
        mem_mb=6000,
        runtime=30,
    params:
        cfg=job(scaling_job_config),
        controls=job(controls_config),
    script:
        "../scripts/scaling_controls.py"


rule scaling_table:
    input:
        points=targets.scaling_points(config),
        baselines=targets.scaling_baselines(config),
    output:
        csv=figure_file("data_scaling.csv", NAME),
        points=figure_file("data_scaling_runs.csv", NAME),
        md=figure_file("data_scaling.md", NAME),
        figure=report(figure_file("data_scaling.png", NAME), category="Data scaling"),
    log:
        log_file("scaling_table", NAME),
    benchmark:
        benchmark_file("scaling_table", NAME)
    conda:
        "../../envs/amips.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        datasets=lambda wildcards: targets.scaling_config(config).get("datasets", []),
        budgets=job(budgets),
    script:
        "../scripts/scaling_table.py"
