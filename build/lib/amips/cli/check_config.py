"""``amips check-config``: validate pipeline config files against the schema and load their npy datasets."""

from __future__ import annotations

import argparse

NAME = "check-config"
HELP = "validate a pipeline config (schema and npy files)"
DESCRIPTION = ("Validate Snakemake config files (merged in order, like snakemake --configfile A B) against "
               "workflow/schemas/config.schema.yaml, and load the files of every `source: npy` dataset "
               "(relative paths are relative to the current directory).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("configs", nargs="+", metavar="CONFIG", help="YAML config file(s)")


def run(args: argparse.Namespace) -> None:
    from amips.pipeline.config import check_config

    for line in check_config(args.configs):
        print(line)
    print(f"config OK: {', '.join(args.configs)}")
