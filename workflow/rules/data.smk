rule make_dataset:
    input:
        unpack(job(dataset_inputs)),
    output:
        **data_files(),
    wildcard_constraints:
        dataset=targets.dataset_pattern(config, text=False),
    log:
        log_file("make_dataset", "{dataset}"),
    benchmark:
        benchmark_file("make_dataset", "{dataset}")
    conda:
        "../../envs/amips.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        spec=job(dataset_job_spec, INPUT_DIGEST_CACHE),
    script:
        "../scripts/make_dataset.py"


rule embed:
    output:
        **data_files(),
    wildcard_constraints:
        dataset=targets.dataset_pattern(config, text=True),
    log:
        log_file("embed", "{dataset}"),
    benchmark:
        benchmark_file("embed", "{dataset}")
    conda:
        "../../envs/amips.yaml"
    # 1 thread: the 2-thread encoder is ~1.6x faster on an idle machine but collapses (>5x slower) when another
    # process shares the cores; raise it with --set-threads embed=N on a dedicated machine.
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        spec=job(dataset_job_spec, INPUT_DIGEST_CACHE),
        cache_dir=EMBEDDING_CACHE,
    script:
        "../scripts/embed.py"
