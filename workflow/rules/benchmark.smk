# Performance benchmarks (benchmarks/): not part of the default target. Run with `snakemake benchmarks`
# (add `--forcerun benchmarks` to measure again). Set AMIPS_BENCHMARKS_QUICK=1 for the < 20 s smoke sizes.
# The full run takes ~10-15 min on 2 cores and writes two 1.5 GB files to the temporary directory (deleted after).
import glob as _glob
import os as _os


rule benchmarks:
    input:
        code=sorted(_glob.glob("benchmarks/*.py"))
        + ["src/amips/exact/labels.py", "src/amips/training/train.py"]
        + sorted(_glob.glob("src/amips/models/*.py")),
    output:
        csv="benchmarks/results/benchmarks.csv",
        plot="benchmarks/results/benchmarks.png",
        machine="benchmarks/results/machine.json",
    params:
        quick=_os.environ.get("AMIPS_BENCHMARKS_QUICK", "0") not in ("", "0", "false", "False"),
        only="labels,memory,inference,training,pipeline",
    log:
        log_file("benchmarks", "benchmarks"),
    benchmark:
        benchmark_file("benchmarks", "benchmarks")
    conda:
        "../../envs/amips.yaml"
    threads: 2
    resources:
        mem_mb=6000,  # 1M x 384 memory-mapped keys (1.5 GB) + one 512 MiB score block + Python/torch
        disk_mb=4000,  # two 1.5 GB temporary .npy files for the memory benchmark
        runtime=40,
    script:
        "../scripts/run_benchmarks.py"
