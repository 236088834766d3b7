rule evaluate:
    input:
        model="results/{dataset}/{task}/{model}/{homogenization}/frac{fraction}/seed{seed}/model.pt",
        key_file="results/{dataset}/data/keys.npy",
        test_queries="results/{dataset}/labels/{task}/test_queries.npy",
        test_targets="results/{dataset}/labels/{task}/test_targets.npy",
    output:
        metrics="results/{dataset}/{task}/{model}/{homogenization}/frac{fraction}/seed{seed}/metrics.json",
    log:
        "logs/evaluate/{dataset}/{task}/{model}/{homogenization}/frac{fraction}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{task}/{model}/{homogenization}/frac{fraction}/seed{seed}.tsv"
    conda:
        "../../envs/amips.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        batch_size=get_eval_batch_size,
        conventions=get_eval_conventions,
        run=get_run_fields,
    script:
        "../scripts/evaluate.py"
