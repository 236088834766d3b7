# What wins where (amips.experiments.what_wins, issue 19 item 4): per dataset and budget, the best learned method
# against the best off-the-shelf configuration of every index family. Inputs: amips.pipeline.targets.what_wins_curves.


rule what_wins:
    input:
        curves=targets.what_wins_curves(config),
    output:
        csv=figure_file("what_wins.csv"),
        markdown=figure_file("what_wins.md"),
    log:
        log_file("what_wins", "{name}"),
    benchmark:
        benchmark_file("what_wins", "{name}")
    conda:
        "../../envs/amips.yaml"
    localrule: True
    params:
        budgets=job(budgets),
    script:
        "../scripts/what_wins.py"
