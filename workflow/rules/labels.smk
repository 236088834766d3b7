rule exact_labels:
    input:
        **data_files("key_file", "queries"),
    output:
        **labels_files("{task}"),
    log:
        log_file("exact_labels", "{dataset}/{task}"),
    benchmark:
        benchmark_file("exact_labels", "{dataset}/{task}")
    conda:
        "../../envs/amips.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=1,  # used when granted (--resources gpu=1, or the slurm profile) and CUDA is available
    params:
        cfg=job(labels_config),
    script:
        "../scripts/exact_labels.py"
