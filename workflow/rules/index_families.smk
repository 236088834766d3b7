# Index families (amips.experiments.index_families, issue 19): HNSW, IVF-PQ, PQ, SQ8 and the MIPS-to-L2 reduction,
# searched with the natural query x (per dataset) and with each trained model's predicted key ĝ(x) (per mips run).
# Settings: amips.pipeline.job_params.index_families_config; targets: amips.pipeline.targets.index_family_*.


rule index_families_baselines:  # builds every family once (faiss on 1 thread) and stores those the runs search
    input:
        key_file=data_file("keys.npy"),
        **labels_files("mips", "test_queries", "test_targets"),
    output:
        csv=index_families_file("baselines.csv"),
        indexes=directory(index_families_file("indexes")),
    log:
        log_file("index_families_baselines", "{dataset}"),
    benchmark:
        benchmark_file("index_families_baselines", "{dataset}")
    conda:
        "../../envs/amips.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=job(index_families_config),
    script:
        "../scripts/index_families.py"


rule index_families_learned:
    input:
        model=run_file("model.pt", task="mips"),
        indexes=index_families_file("indexes"),
        key_file=data_file("keys.npy"),
        **labels_files("mips", "test_queries", "test_targets"),
    output:
        csv=run_file("index_families.csv", task="mips"),
    log:
        log_file("index_families_learned", ONE_TASK_RUN_KEY),
    benchmark:
        benchmark_file("index_families_learned", ONE_TASK_RUN_KEY)
    conda:
        "../../envs/amips.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=job(index_families_config),
        run=job(run_fields),
        batch_size=job(eval_batch_size),
    script:
        "../scripts/index_families.py"


rule aggregate_index_families:
    input:
        curves=targets.index_family_files(config),
    output:
        csv=figure_file("index_families.csv"),
        markdown=figure_file("index_families.md"),
        figure=figure_file("index_families.png"),
    log:
        log_file("aggregate_index_families", "{name}"),
    benchmark:
        benchmark_file("aggregate_index_families", "{name}")
    conda:
        "../../envs/amips.yaml"
    localrule: True
    script:
        "../scripts/index_families.py"
