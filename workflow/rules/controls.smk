# Controls a learned model must beat (amips.evaluation.controls): identity x, best scalar c·x, ridge map, blend; fitted on the
# training rows (validation carved by source query), evaluated on the test split with the models' metric code.


rule controls:
    input:
        key_file="results/{dataset}/data/keys.npy",
        train_queries="results/{dataset}/labels/mips/train_queries.npy",
        train_targets="results/{dataset}/labels/mips/train_targets.npy",
        train_source="results/{dataset}/labels/mips/train_source.npy",
        val_queries="results/{dataset}/labels/mips/val_queries.npy",
        val_targets="results/{dataset}/labels/mips/val_targets.npy",
        test_queries="results/{dataset}/labels/mips/test_queries.npy",
        test_targets="results/{dataset}/labels/mips/test_targets.npy",
    output:
        metrics=expand("results/{{dataset}}/controls/{control}/metrics.json", control=CONTROL_NAMES),
    log:
        "logs/controls/{dataset}.log",
    benchmark:
        "results/benchmarks/controls/{dataset}.tsv"
    conda:
        "../../envs/amips.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=get_controls_config,
        names=CONTROL_NAMES,
    script:
        "../scripts/controls.py"


rule ivf_controls:
    input:
        index="results/{dataset}/ivf/index.faiss",
        key_file="results/{dataset}/data/keys.npy",
        train_queries="results/{dataset}/labels/mips/train_queries.npy",
        train_targets="results/{dataset}/labels/mips/train_targets.npy",
        train_source="results/{dataset}/labels/mips/train_source.npy",
        val_queries="results/{dataset}/labels/mips/val_queries.npy",
        val_targets="results/{dataset}/labels/mips/val_targets.npy",
        test_queries="results/{dataset}/labels/mips/test_queries.npy",
        test_targets="results/{dataset}/labels/mips/test_targets.npy",
    output:
        csv="results/{dataset}/controls/ivf.csv",
    log:
        "logs/ivf_controls/{dataset}.log",
    benchmark:
        "results/benchmarks/ivf_controls/{dataset}.tsv"
    conda:
        "../../envs/amips.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=get_controls_config,
        ivf_cfg=get_ivf_config,
        names=CONTROL_IVF_NAMES,
    script:
        "../scripts/controls.py"
