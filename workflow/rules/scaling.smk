# Data scaling (amips.experiments.scaling): each model and the refitted controls trained on the first n distinct
# training queries (nested subsets), evaluated on the fixed test split; table, CSVs and figure over n.


rule scaling_point:
    input:
        key_file="results/{dataset}/data/keys.npy",
        index="results/{dataset}/ivf/index.faiss",
        train_queries="results/{dataset}/labels/mips/train_queries.npy",
        train_targets="results/{dataset}/labels/mips/train_targets.npy",
        train_source="results/{dataset}/labels/mips/train_source.npy",
        val_queries="results/{dataset}/labels/mips/val_queries.npy",
        test_queries="results/{dataset}/labels/mips/test_queries.npy",
    output:
        point="results/{dataset}/scaling/{model}/n{n}/seed{seed}/point.json",
        model="results/{dataset}/scaling/{model}/n{n}/seed{seed}/model.pt",
    log:
        "logs/scaling_point/{dataset}/{model}/n{n}/seed{seed}.log",
    benchmark:
        "results/benchmarks/scaling_point/{dataset}/{model}/n{n}/seed{seed}.tsv"
    conda:
        "../../envs/amips.yaml"
    threads: 1
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=1,  # used when granted (--resources gpu=1, or the slurm profile) and CUDA is available
    params:
        model=get_scaling_model_config,
        training=get_scaling_training,
        cfg=get_scaling_job_config,
        batch_size=get_eval_batch_size,
    script:
        "../scripts/scaling_point.py"


rule scaling_controls:
    input:
        key_file="results/{dataset}/data/keys.npy",
        index="results/{dataset}/ivf/index.faiss",
        train_queries="results/{dataset}/labels/mips/train_queries.npy",
        train_targets="results/{dataset}/labels/mips/train_targets.npy",
        train_source="results/{dataset}/labels/mips/train_source.npy",
        val_queries="results/{dataset}/labels/mips/val_queries.npy",
        test_queries="results/{dataset}/labels/mips/test_queries.npy",
    output:
        point="results/{dataset}/scaling/controls/n{n}/point.json",
    log:
        "logs/scaling_controls/{dataset}/n{n}.log",
    benchmark:
        "results/benchmarks/scaling_controls/{dataset}/n{n}.tsv"
    conda:
        "../../envs/amips.yaml"
    threads: 1
    resources:
        mem_mb=6000,
        runtime=30,
    params:
        cfg=get_scaling_job_config,
        controls=get_controls_config,
    script:
        "../scripts/scaling_controls.py"


rule scaling_table:
    input:
        points=get_scaling_points,
        baselines=get_scaling_baselines,
    output:
        csv=f"{FIGURES_DIR}/data_scaling.csv",
        points=f"{FIGURES_DIR}/data_scaling_runs.csv",
        md=f"{FIGURES_DIR}/data_scaling.md",
        figure=report(f"{FIGURES_DIR}/data_scaling.png", category="Data scaling"),
    log:
        f"logs/scaling_table/{NAME}.log",
    benchmark:
        f"results/benchmarks/scaling_table/{NAME}.tsv"
    conda:
        "../../envs/amips.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        datasets=lambda wildcards: SCALING.get("datasets", []),
        budgets=lambda wildcards: config["budgets"]["fractions"],
    script:
        "../scripts/scaling_table.py"
