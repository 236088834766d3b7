rule evaluate:
    input:
        model=RUN_DIR + "/model.pt",
        key_file="results/{dataset}/data/keys.npy",
        test_queries="results/{dataset}/labels/test_queries.npy",
        test_targets="results/{dataset}/labels/test_targets.npy",
    output:
        metrics=RUN_DIR + "/metrics.json",
    log:
        "logs/evaluate/{dataset}/{model}/{homogenization}/frac{fraction}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{model}/{homogenization}/frac{fraction}/seed{seed}.tsv"
    conda:
        "../../envs/amips.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        batch_size=get_eval_batch_size,
    script:
        "../scripts/evaluate.py"
