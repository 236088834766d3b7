# IVF experiments beyond the paper (amips.experiments): hybrid probing, routers over the IVF lists, break-even.


rule ivf_hybrid:
    input:
        model="results/{dataset}/mips/{model}/{homogenization}/frac{fraction}/seed{seed}/model.pt",
        index="results/{dataset}/ivf/index.faiss",
        key_file="results/{dataset}/data/keys.npy",
        train_queries="results/{dataset}/labels/mips/train_queries.npy",
        test_queries="results/{dataset}/labels/mips/test_queries.npy",
        test_targets="results/{dataset}/labels/mips/test_targets.npy",
    output:
        csv="results/{dataset}/mips/{model}/{homogenization}/frac{fraction}/seed{seed}/ivf_hybrid.csv",
    log:
        "logs/ivf_hybrid/{dataset}/{model}/{homogenization}/frac{fraction}/seed{seed}.log",
    benchmark:
        "results/benchmarks/ivf_hybrid/{dataset}/{model}/{homogenization}/frac{fraction}/seed{seed}.tsv"
    conda:
        "../../envs/amips.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=get_ivf_hybrid_config,
        run=get_run_fields,
        training=get_training_config,
        batch_size=get_eval_batch_size,
    script:
        "../scripts/ivf_hybrid.py"


rule list_targets:  # each list's best key for every training query, shared by the routers trained on it
    input:
        index="results/{dataset}/ivf/index.faiss",
        key_file="results/{dataset}/data/keys.npy",
        train_queries="results/{dataset}/labels/mips/train_queries.npy",
    output:
        targets="results/{dataset}/list_router/list_targets.npy",
        meta="results/{dataset}/list_router/list_targets.json",
    log:
        "logs/list_targets/{dataset}.log",
    benchmark:
        "results/benchmarks/list_targets/{dataset}.tsv"
    conda:
        "../../envs/amips.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=1,  # used when granted (--resources gpu=1, or the slurm profile) and CUDA is available
    script:
        "../scripts/list_targets.py"


rule list_router_fixed:  # the routers that are not AMIPS model entries: ltr (baseline), residual and ellipsoid (extensions)
    input:
        unpack(get_fixed_router_targets),
        index="results/{dataset}/ivf/index.faiss",
        key_file="results/{dataset}/data/keys.npy",
        train_queries="results/{dataset}/labels/mips/train_queries.npy",
        train_targets="results/{dataset}/labels/mips/train_targets.npy",
        test_queries="results/{dataset}/labels/mips/test_queries.npy",
        test_targets="results/{dataset}/labels/mips/test_targets.npy",
    output:
        csv="results/{dataset}/list_router/{router}/seed{seed}/routing.csv",
    wildcard_constraints:
        router="ltr|residual|ellipsoid",
    log:
        "logs/list_router_{router}/{dataset}/seed{seed}.log",
    benchmark:
        "results/benchmarks/list_router_{router}/{dataset}/seed{seed}.tsv"
    conda:
        "../../envs/amips.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        kind=lambda wildcards: wildcards.router,
        cfg=get_list_router_config,
        run=get_list_router_run,
    script:
        "../scripts/list_router.py"


rule list_router_amips:
    input:
        index="results/{dataset}/ivf/index.faiss",
        key_file="results/{dataset}/data/keys.npy",
        train_queries="results/{dataset}/labels/mips/train_queries.npy",
        train_targets="results/{dataset}/labels/mips/train_targets.npy",
        test_queries="results/{dataset}/labels/mips/test_queries.npy",
        test_targets="results/{dataset}/labels/mips/test_targets.npy",
        list_targets="results/{dataset}/list_router/list_targets.npy",
    output:
        csv="results/{dataset}/list_router/{model}/{homogenization}/seed{seed}/routing.csv",
        model="results/{dataset}/list_router/{model}/{homogenization}/seed{seed}/model.pt",
    log:
        "logs/list_router_amips/{dataset}/{model}/{homogenization}/seed{seed}.log",
    benchmark:
        "results/benchmarks/list_router_amips/{dataset}/{model}/{homogenization}/seed{seed}.tsv"
    conda:
        "../../envs/amips.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        kind="amips",
        cfg=get_list_router_config,
        run=get_list_router_run,
    script:
        "../scripts/list_router.py"


rule aggregate_ivf_experiment:
    input:
        baselines=expand("results/{dataset}/ivf/baselines.csv", dataset=DATASETS),
        curves=get_ivf_experiment_files,
    output:
        curves="results/figures/{name}/ivf_{experiment}.csv",
        markdown="results/figures/{name}/ivf_{experiment}.md",
    wildcard_constraints:
        experiment="|".join(IVF_EXPERIMENTS),
    log:
        "logs/aggregate_ivf_experiment/{name}/{experiment}.log",
    benchmark:
        "results/benchmarks/aggregate_ivf_experiment/{name}/{experiment}.tsv"
    conda:
        "../../envs/amips.yaml"
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        budgets=get_budgets,
    script:
        "../scripts/ivf_experiment_tables.py"


rule plot_ivf_experiment:
    input:
        curves="results/figures/{name}/ivf_{experiment}.csv",
    output:
        figure="results/figures/{name}/ivf_{experiment}.png",
    wildcard_constraints:
        experiment="|".join(IVF_EXPERIMENTS),
    log:
        "logs/plot_ivf_experiment/{name}/{experiment}.log",
    benchmark:
        "results/benchmarks/plot_ivf_experiment/{name}/{experiment}.tsv"
    conda:
        "../../envs/amips.yaml"
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/ivf_experiment_tables.py"


rule breakeven:
    input:
        curves=get_ivf_experiment_tables,
    output:
        csv="results/figures/{name}/breakeven.csv",
        markdown="results/figures/{name}/breakeven.md",
        figure="results/figures/{name}/breakeven.png",
    log:
        "logs/breakeven/{name}.log",
    benchmark:
        "results/benchmarks/breakeven/{name}.tsv"
    conda:
        "../../envs/amips.yaml"
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        recalls=EXPERIMENTS.get("breakeven", {}).get("recalls", [0.9, 0.95]),
    script:
        "../scripts/ivf_experiment_tables.py"
