rule make_dataset:
    output:
        key_file="results/{dataset}/data/keys.npy",
        queries="results/{dataset}/data/queries.npy",
        meta="results/{dataset}/data/meta.json",
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
        spec=get_dataset_spec,
    script:
        "../scripts/make_dataset.py"
