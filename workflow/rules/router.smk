# Cluster router: a multi-output model scores each k-means cluster; compared with centroid routing.


rule router_baseline:
    input:
        key_file=data_file("keys.npy"),
        **labels_files("router", "test_queries", "test_targets", "centroids", "assignments"),
    output:
        csv=dataset_file("router_baseline.csv"),
    log:
        log_file("router_baseline", "{dataset}"),
    benchmark:
        benchmark_file("router_baseline", "{dataset}")
    conda:
        "../../envs/amips.yaml"
    resources:
        mem_mb=4000,
        runtime=15,
    script:
        "../scripts/router_curves.py"


rule router_learned:
    input:
        model=run_file("model.pt", task="router"),
        key_file=data_file("keys.npy"),
        **labels_files("router", "test_queries", "test_targets", "assignments"),
    output:
        csv=run_file("routing.csv", task="router"),
    log:
        log_file("router_learned", ONE_TASK_RUN_KEY),
    benchmark:
        benchmark_file("router_learned", ONE_TASK_RUN_KEY)
    conda:
        "../../envs/amips.yaml"
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        run=job(run_fields),
        batch_size=job(eval_batch_size),
    script:
        "../scripts/router_curves.py"
