# Index families (amips.experiments.index_families, issue 19): HNSW, IVF-PQ, PQ, SQ8 and the MIPS-to-L2 reduction,
# searched with the natural query x (per dataset) and with each trained model's predicted key ĝ(x) (per mips run).
# Settings, targets and input functions: common/index_families.smk.


rule index_families_baselines:  # builds every family once (faiss on 1 thread) and stores those the runs search
    input:
        key_file="results/{dataset}/data/keys.npy",
        test_queries="results/{dataset}/labels/mips/test_queries.npy",
        test_targets="results/{dataset}/labels/mips/test_targets.npy",
    output:
        csv="results/{dataset}/index_families/baselines.csv",
        indexes=directory("results/{dataset}/index_families/indexes"),
    log:
        "logs/index_families_baselines/{dataset}.log",
    benchmark:
        "results/benchmarks/index_families_baselines/{dataset}.tsv"
    conda:
        "../../envs/amips.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=get_index_families_config,
    script:
        "../scripts/index_families.py"


rule index_families_learned:
    input:
        model="results/{dataset}/mips/{model}/{homogenization}/frac{fraction}/seed{seed}/model.pt",
        indexes="results/{dataset}/index_families/indexes",
        key_file="results/{dataset}/data/keys.npy",
        test_queries="results/{dataset}/labels/mips/test_queries.npy",
        test_targets="results/{dataset}/labels/mips/test_targets.npy",
    output:
        csv="results/{dataset}/mips/{model}/{homogenization}/frac{fraction}/seed{seed}/index_families.csv",
    log:
        "logs/index_families_learned/{dataset}/{model}/{homogenization}/frac{fraction}/seed{seed}.log",
    benchmark:
        "results/benchmarks/index_families_learned/{dataset}/{model}/{homogenization}/frac{fraction}/seed{seed}.tsv"
    conda:
        "../../envs/amips.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=get_index_families_config,
        run=get_run_fields,
        batch_size=get_eval_batch_size,
    script:
        "../scripts/index_families.py"


rule aggregate_index_families:
    input:
        curves=get_index_family_files,
    output:
        csv="results/figures/{name}/index_families.csv",
        markdown="results/figures/{name}/index_families.md",
        figure="results/figures/{name}/index_families.png",
    log:
        "logs/aggregate_index_families/{name}.log",
    benchmark:
        "results/benchmarks/aggregate_index_families/{name}.tsv"
    conda:
        "../../envs/amips.yaml"
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/index_families.py"
