"""``amips check-config``: validate pipeline config files against the schema and load their npy datasets."""

from __future__ import annotations

import argparse

from amips.cli.options import positive_int

NAME = "check-config"
HELP = "validate a pipeline config (schema and npy files)"
DESCRIPTION = ("Validate Snakemake config files (merged in order, like snakemake --configfile A B) against "
               "workflow/schemas/config.schema.yaml, and load the files of every `source: npy` dataset "
               "(relative paths are relative to the current directory).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("configs", nargs="+", metavar="CONFIG", help="YAML config file(s)")
    parser.add_argument("--plan", action="store_true",
                        help="also print the jobs per rule snakemake would run here, and an estimate of the wall time "
                             "from this machine's benchmark records of earlier jobs (a dry run: a few seconds)")
    parser.add_argument("--cores", type=positive_int, default=2, help="cores of the estimate (with --plan)")


def run(args: argparse.Namespace) -> None:
    from amips.pipeline.config import check_config

    for line in check_config(args.configs):
        print(line)
    print(f"config OK: {', '.join(args.configs)}")
    if args.plan:
        from amips.pipeline.plan import plan_lines, planned_jobs, rule_seconds

        for line in plan_lines(planned_jobs(args.configs), rule_seconds(), args.cores):
            print(line)
