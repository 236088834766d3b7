# What wins where (amips.experiments.what_wins, issue 19 item 4): per dataset and budget, the best learned method
# against the best off-the-shelf configuration of every index family. Inputs and settings: common/what_wins.smk.


rule what_wins:
    input:
        curves=get_what_wins_curves,
    output:
        csv="results/figures/{name}/what_wins.csv",
        markdown="results/figures/{name}/what_wins.md",
    log:
        "logs/what_wins/{name}.log",
    benchmark:
        "results/benchmarks/what_wins/{name}.tsv"
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
        "../scripts/what_wins.py"
