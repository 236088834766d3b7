rule evaluate:
    input:
        model=run_file("model.pt"),
        key_file=data_file("keys.npy"),
        **labels_files("{task}", "test_queries", "test_targets"),
    output:
        metrics=run_file("metrics.json"),
    log:
        log_file("evaluate", RUN_KEY),
    benchmark:
        benchmark_file("evaluate", RUN_KEY)
    conda:
        "../../envs/amips.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        batch_size=job(eval_batch_size),
        conventions=job(eval_conventions),
        run=job(run_fields),
    script:
        "../scripts/evaluate.py"
