rule make_dataset:
    input:
        unpack(get_dataset_inputs),
    output:
        key_file="results/{dataset}/data/keys.npy",
        queries="results/{dataset}/data/queries.npy",
        meta="results/{dataset}/data/meta.json",
        manifest="results/{dataset}/data/manifest.json",
    wildcard_constraints:
        dataset=dataset_pattern(text=False),
    log:
        "logs/make_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/make_dataset/{dataset}.tsv"
    conda:
        "../../envs/amips.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        spec=get_dataset_job_spec,
    script:
        "../scripts/make_dataset.py"


rule embed:
    output:
        key_file="results/{dataset}/data/keys.npy",
        queries="results/{dataset}/data/queries.npy",
        meta="results/{dataset}/data/meta.json",
        manifest="results/{dataset}/data/manifest.json",
    wildcard_constraints:
        dataset=dataset_pattern(text=True),
    log:
        "logs/embed/{dataset}.log",
    benchmark:
        "results/benchmarks/embed/{dataset}.tsv"
    conda:
        "../../envs/amips.yaml"
    # 1 thread: the 2-thread encoder is ~1.6x faster on an idle machine but collapses (>5x slower) when another
    # process shares the cores; raise it with --set-threads embed=N on a dedicated machine.
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        spec=get_dataset_job_spec,
        cache_dir="results/cache/embeddings",
    script:
        "../scripts/embed.py"
