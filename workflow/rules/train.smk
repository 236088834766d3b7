rule train:
    input:
        unpack(get_train_partition),
        key_file="results/{dataset}/data/keys.npy",
        train_queries="results/{dataset}/labels/{task}/train_queries.npy",
        train_targets="results/{dataset}/labels/{task}/train_targets.npy",
        val_queries="results/{dataset}/labels/{task}/val_queries.npy",
        val_targets="results/{dataset}/labels/{task}/val_targets.npy",
    output:
        model="results/{dataset}/{task}/{model}/{homogenization}/frac{fraction}/seed{seed}/model.pt",
        history="results/{dataset}/{task}/{model}/{homogenization}/frac{fraction}/seed{seed}/history.json",
    log:
        "logs/train/{dataset}/{task}/{model}/{homogenization}/frac{fraction}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{dataset}/{task}/{model}/{homogenization}/frac{fraction}/seed{seed}.tsv"
    conda:
        "../../envs/amips.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=1,  # used when granted (--resources gpu=1, or the slurm profile) and CUDA is available
    params:
        model=get_model_config,
        training=get_training_config,
        eval_batch_size=get_eval_batch_size,
    script:
        "../scripts/train.py"
