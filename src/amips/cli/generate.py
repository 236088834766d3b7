"""``amips generate``: write a synthetic key/query set of unit vectors to a dataset directory."""

from __future__ import annotations

import argparse

from amips.cli.choices import SYNTHETIC_SOURCES
from amips.cli.options import add_overwrite, int_arg, seed_int
from amips.data.io import check_replaceable

NAME = "generate"
HELP = "write a synthetic key/query set (keys.npy, queries.npy)"
DESCRIPTION = ("Write a synthetic key/query set of unit vectors to DIR (keys.npy [m, d], queries.npy [n, d], "
               "meta.json).\nstructured: anisotropic low-rank clusters that look like text embeddings; "
               "gaussian: uniform on the sphere.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", choices=SYNTHETIC_SOURCES, default="structured", help="generator")
    parser.add_argument("--num-keys", type=int_arg(2, 10**12), default=5000, help="number of keys m")
    parser.add_argument("--num-queries", type=int_arg(2, 10**12), default=2000, help="number of queries n")
    parser.add_argument("--dim", type=int_arg(1, 10**6), default=64, help="dimension d")
    parser.add_argument("--held-out", type=int_arg(0, 10**12), default=0,
                        help="also write held_out_queries.npy: this many more queries from the same generator, never "
                             "trained on (to measure generalisation with `amips evaluate --queries`)")
    parser.add_argument("--seed", type=seed_int, default=0, help="random seed")
    parser.add_argument("--out", required=True, help="output directory")
    add_overwrite(parser, "files in --out")


def run(args: argparse.Namespace) -> None:
    from amips.pipeline.stages.data import make_dataset

    check_replaceable({"--out": args.out}, args.overwrite, folders=True)
    spec = {"source": args.source, "num_keys": args.num_keys, "num_queries": args.num_queries, "dim": args.dim,
            "seed": args.seed, **({"held_out": args.held_out} if args.held_out else {})}
    meta = make_dataset(spec, args.out)
    held = f" + {meta['num_held_out_queries']} held-out queries" if args.held_out else ""
    print(f"wrote {meta['num_keys']} keys and {meta['num_queries']} queries{held} (d = {meta['dim']}) to {args.out}")
