rule exact_labels:
    input:
        key_file="results/{dataset}/data/keys.npy",
        queries="results/{dataset}/data/queries.npy",
    output:
        train_queries="results/{dataset}/labels/{task}/train_queries.npy",
        train_targets="results/{dataset}/labels/{task}/train_targets.npy",
        val_queries="results/{dataset}/labels/{task}/val_queries.npy",
        val_targets="results/{dataset}/labels/{task}/val_targets.npy",
        test_queries="results/{dataset}/labels/{task}/test_queries.npy",
        test_targets="results/{dataset}/labels/{task}/test_targets.npy",
        train_source="results/{dataset}/labels/{task}/train_source.npy",
        test_source="results/{dataset}/labels/{task}/test_source.npy",
        centroids="results/{dataset}/labels/{task}/centroids.npy",
        assignments="results/{dataset}/labels/{task}/assignments.npy",
        meta="results/{dataset}/labels/{task}/meta.json",
        manifest="results/{dataset}/labels/{task}/manifest.json",
    log:
        "logs/exact_labels/{dataset}/{task}.log",
    benchmark:
        "results/benchmarks/exact_labels/{dataset}/{task}.tsv"
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
