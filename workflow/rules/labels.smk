rule exact_labels:
    input:
        key_file="results/{dataset}/data/keys.npy",
        queries="results/{dataset}/data/queries.npy",
    output:
        train_queries="results/{dataset}/labels/train_queries.npy",
        train_targets="results/{dataset}/labels/train_targets.npy",
        test_queries="results/{dataset}/labels/test_queries.npy",
        test_targets="results/{dataset}/labels/test_targets.npy",
        meta="results/{dataset}/labels/meta.json",
    log:
        "logs/exact_labels/{dataset}.log",
    benchmark:
        "results/benchmarks/exact_labels/{dataset}.tsv"
    conda:
        "../../envs/amips.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=1,  # used when granted (--resources gpu=1, or the slurm profile) and CUDA is available
    params:
        cfg=get_labels_config,
    script:
        "../scripts/exact_labels.py"
