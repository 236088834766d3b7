"""amips performance benchmarks (exact labels, memory, inference, training, pipeline wall time).

Run ``python benchmarks/run.py [--quick] [--only labels,inference,...] --out benchmarks/results/`` or
``snakemake benchmarks``. Each benchmark measures the candidate and its baseline in the same process
(interleaved, best of N) and reports the ratio; see ``benchmarks/RESULTS.md`` for the measured numbers.
"""
