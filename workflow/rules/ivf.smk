# IVF with a projected query: the model's predicted key replaces the natural query in a faiss IVF-Flat index.


rule ivf_baselines:
    input:
        key_file="results/{dataset}/data/keys.npy",
        test_queries="results/{dataset}/labels/mips/test_queries.npy",
        test_targets="results/{dataset}/labels/mips/test_targets.npy",
    output:
        csv="results/{dataset}/ivf/baselines.csv",
        index="results/{dataset}/ivf/index.faiss",
    log:
        "logs/ivf_baselines/{dataset}.log",
    benchmark:
        "results/benchmarks/ivf_baselines/{dataset}.tsv"
    conda:
        "../../envs/amips.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=get_ivf_config,
    script:
        "../scripts/ivf_baselines.py"


rule ivf_projected:
    input:
        model="results/{dataset}/mips/{model}/{homogenization}/frac{fraction}/seed{seed}/model.pt",
        index="results/{dataset}/ivf/index.faiss",
        key_file="results/{dataset}/data/keys.npy",
        test_queries="results/{dataset}/labels/mips/test_queries.npy",
        test_targets="results/{dataset}/labels/mips/test_targets.npy",
    output:
        csv="results/{dataset}/mips/{model}/{homogenization}/frac{fraction}/seed{seed}/ivf.csv",
    log:
        "logs/ivf_projected/{dataset}/{model}/{homogenization}/frac{fraction}/seed{seed}.log",
    benchmark:
        "results/benchmarks/ivf_projected/{dataset}/{model}/{homogenization}/frac{fraction}/seed{seed}.tsv"
    conda:
        "../../envs/amips.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=get_ivf_config,
        run=get_run_fields,
        batch_size=get_eval_batch_size,
    script:
        "../scripts/ivf_projected.py"
