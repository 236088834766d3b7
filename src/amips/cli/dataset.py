"""``amips dataset``: your own keys and queries (.npy) as a dataset folder that the stage commands read."""

from __future__ import annotations

import argparse

from amips.cli.options import add_overwrite
from amips.data.io import check_distinct_paths, check_replaceable

NAME = "dataset"
HELP = "your keys.npy and queries.npy as a dataset folder for labels/train/evaluate"
DESCRIPTION = ("Check your keys [m, d] and queries [n, d] (.npy; float, finite; queries L2-normalised) and write "
               "them to DIR with their manifest — the dataset folder `amips labels --data DIR` reads. "
               "--held-out adds queries never trained on (held_out_queries.npy, for `amips evaluate --queries`).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keys", required=True, help="keys .npy file [m, d]")
    parser.add_argument("--queries", required=True, help="queries .npy file [n, d]")
    parser.add_argument("--held-out", default=None, help="held-out queries .npy file [n_h, d] (optional)")
    parser.add_argument("--out", required=True, help="output dataset directory")
    add_overwrite(parser, "files in --out")


def run(args: argparse.Namespace) -> None:
    from amips.pipeline.stages.data import make_dataset

    inputs = {"--keys": args.keys, "--queries": args.queries, **({"--held-out": args.held_out} if args.held_out else {})}
    check_distinct_paths({"--out": args.out}, inputs, folders=True)
    check_replaceable({"--out": args.out}, args.overwrite, folders=True)
    spec = {"source": "npy", "keys": args.keys, "queries": args.queries,
            **({"held_out_queries": args.held_out} if args.held_out else {})}
    meta = make_dataset(spec, args.out)
    held = f" + {meta['num_held_out_queries']} held-out queries" if args.held_out else ""
    print(f"wrote {meta['num_keys']} keys and {meta['num_queries']} queries{held} (d = {meta['dim']}) to {args.out}")
