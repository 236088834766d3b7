# Cluster router: a multi-output model scores each k-means cluster; compared with centroid routing.


rule router_baseline:
    input:
        key_file="results/{dataset}/data/keys.npy",
        test_queries="results/{dataset}/labels/router/test_queries.npy",
        test_targets="results/{dataset}/labels/router/test_targets.npy",
        centroids="results/{dataset}/labels/router/centroids.npy",
        assignments="results/{dataset}/labels/router/assignments.npy",
    output:
        csv="results/{dataset}/router_baseline.csv",
    log:
        "logs/router_baseline/{dataset}.log",
    benchmark:
        "results/benchmarks/router_baseline/{dataset}.tsv"
    conda:
        "../../envs/amips.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    script:
        "../scripts/router_curves.py"


rule router_learned:
    input:
        model="results/{dataset}/router/{model}/{homogenization}/frac{fraction}/seed{seed}/model.pt",
        key_file="results/{dataset}/data/keys.npy",
        test_queries="results/{dataset}/labels/router/test_queries.npy",
        test_targets="results/{dataset}/labels/router/test_targets.npy",
        assignments="results/{dataset}/labels/router/assignments.npy",
    output:
        csv="results/{dataset}/router/{model}/{homogenization}/frac{fraction}/seed{seed}/routing.csv",
    log:
        "logs/router_learned/{dataset}/{model}/{homogenization}/frac{fraction}/seed{seed}.log",
    benchmark:
        "results/benchmarks/router_learned/{dataset}/{model}/{homogenization}/frac{fraction}/seed{seed}.tsv"
    conda:
        "../../envs/amips.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        run=get_run_fields,
        batch_size=get_eval_batch_size,
    script:
        "../scripts/router_curves.py"
