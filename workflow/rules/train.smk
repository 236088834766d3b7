rule train:
    input:
        unpack(job(train_partition)),
        key_file=data_file("keys.npy"),
        **labels_files("{task}", "train_queries", "train_targets", "val_queries", "val_targets"),
    output:
        model=run_file("model.pt"),
        history=run_file("history.json"),
    log:
        log_file("train", RUN_KEY),
    benchmark:
        benchmark_file("train", RUN_KEY)
    conda:
        "../../envs/amips.yaml"
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=1,  # used when granted (--resources gpu=1, or the slurm profile) and CUDA is available
    params:
        model=job(model_config),
        training=job(training_config),
        eval_batch_size=job(eval_batch_size),
    script:
        "../scripts/train.py"
