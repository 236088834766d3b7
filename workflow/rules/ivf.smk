# IVF with a projected query: the model's predicted key replaces the natural query in a faiss IVF-Flat index.


rule ivf_baselines:
    input:
        key_file=data_file("keys.npy"),
        **labels_files("mips", "test_queries", "test_targets"),
    output:
        csv=ivf_file("baselines.csv"),
        index=ivf_file("index.faiss"),
    log:
        log_file("ivf_baselines", "{dataset}"),
    benchmark:
        benchmark_file("ivf_baselines", "{dataset}")
    conda:
        "../../envs/amips.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=job(ivf_config),
    script:
        "../scripts/ivf_baselines.py"


rule ivf_projected:
    input:
        model=run_file("model.pt", task="mips"),
        index=ivf_file("index.faiss"),
        key_file=data_file("keys.npy"),
        **labels_files("mips", "test_queries", "test_targets"),
    output:
        csv=run_file("ivf.csv", task="mips"),
    log:
        log_file("ivf_projected", ONE_TASK_RUN_KEY),
    benchmark:
        benchmark_file("ivf_projected", ONE_TASK_RUN_KEY)
    conda:
        "../../envs/amips.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=job(ivf_config),
        run=job(run_fields),
        batch_size=job(eval_batch_size),
    script:
        "../scripts/ivf_projected.py"
