# IVF experiments beyond the paper (amips.experiments): hybrid probing, routers over the IVF lists, break-even.


rule ivf_hybrid:
    input:
        model=run_file("model.pt", task="mips"),
        index=ivf_file("index.faiss"),
        key_file=data_file("keys.npy"),
        **labels_files("mips", "train_queries", "test_queries", "test_targets"),
    output:
        csv=run_file("ivf_hybrid.csv", task="mips"),
    log:
        log_file("ivf_hybrid", ONE_TASK_RUN_KEY),
    benchmark:
        benchmark_file("ivf_hybrid", ONE_TASK_RUN_KEY)
    conda:
        "../../envs/amips.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg=job(ivf_hybrid_config),
        run=job(run_fields),
        training=job(training_config),
        batch_size=job(eval_batch_size),
    script:
        "../scripts/ivf_hybrid.py"


rule list_targets:  # each list's best key for every training query, shared by the routers trained on it
    input:
        index=ivf_file("index.faiss"),
        key_file=data_file("keys.npy"),
        **labels_files("mips", "train_queries"),
    output:
        targets=list_router_file("list_targets.npy"),
        meta=list_router_file("list_targets.json"),
    log:
        log_file("list_targets", "{dataset}"),
    benchmark:
        benchmark_file("list_targets", "{dataset}")
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
        unpack(job(fixed_router_targets)),
        index=ivf_file("index.faiss"),
        key_file=data_file("keys.npy"),
        **labels_files("mips", "train_queries", "train_targets", "test_queries", "test_targets"),
    output:
        csv=list_router_file("{router}", "seed{seed}", "routing.csv"),
    wildcard_constraints:
        router="ltr|residual|ellipsoid",
    log:
        log_file("list_router_{router}", "{dataset}/seed{seed}"),
    benchmark:
        benchmark_file("list_router_{router}", "{dataset}/seed{seed}")
    conda:
        "../../envs/amips.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        kind=lambda wildcards: wildcards.router,
        cfg=job(list_router_config),
        run=job(list_router_run),
    script:
        "../scripts/list_router.py"


rule list_router_amips:
    input:
        index=ivf_file("index.faiss"),
        key_file=data_file("keys.npy"),
        **labels_files("mips", "train_queries", "train_targets", "test_queries", "test_targets"),
        list_targets=list_router_file("list_targets.npy"),
    output:
        csv=list_router_file("{model}", "{homogenization}", "seed{seed}", "routing.csv"),
        model=list_router_file("{model}", "{homogenization}", "seed{seed}", "model.pt"),
    log:
        log_file("list_router_amips", "{dataset}/{model}/{homogenization}/seed{seed}"),
    benchmark:
        benchmark_file("list_router_amips", "{dataset}/{model}/{homogenization}/seed{seed}")
    conda:
        "../../envs/amips.yaml"
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        kind="amips",
        cfg=job(list_router_config),
        run=job(list_router_run),
    script:
        "../scripts/list_router.py"


rule aggregate_ivf_experiment:
    input:
        baselines=[ivf_file("baselines.csv", dataset=d) for d in DATASETS],
        curves=job(ivf_experiment_files),
    output:
        curves=figure_file("ivf_{experiment}.csv"),
        markdown=figure_file("ivf_{experiment}.md"),
    wildcard_constraints:
        experiment="|".join(targets.IVF_EXPERIMENTS),
    log:
        log_file("aggregate_ivf_experiment", "{name}/{experiment}"),
    benchmark:
        benchmark_file("aggregate_ivf_experiment", "{name}/{experiment}")
    conda:
        "../../envs/amips.yaml"
    localrule: True
    params:
        budgets=job(budgets),
    script:
        "../scripts/ivf_experiment_tables.py"


rule plot_ivf_experiment:
    input:
        curves=figure_file("ivf_{experiment}.csv"),
    output:
        figure=figure_file("ivf_{experiment}.png"),
    wildcard_constraints:
        experiment="|".join(targets.IVF_EXPERIMENTS),
    log:
        log_file("plot_ivf_experiment", "{name}/{experiment}"),
    benchmark:
        benchmark_file("plot_ivf_experiment", "{name}/{experiment}")
    conda:
        "../../envs/amips.yaml"
    localrule: True
    script:
        "../scripts/ivf_experiment_tables.py"


rule breakeven:
    input:
        curves=targets.ivf_experiment_tables(config),
    output:
        csv=figure_file("breakeven.csv"),
        markdown=figure_file("breakeven.md"),
        figure=figure_file("breakeven.png"),
    log:
        log_file("breakeven", "{name}"),
    benchmark:
        benchmark_file("breakeven", "{name}")
    conda:
        "../../envs/amips.yaml"
    localrule: True
    params:
        recalls=targets.experiments(config)["breakeven"]["recalls"],
    script:
        "../scripts/ivf_experiment_tables.py"
