"""``amips labels``: pipeline stage 2, noise-augmented queries with their exact top-1 keys, split into train/test."""

from __future__ import annotations

import argparse
import re

from amips.cli.options import (BIG, add_noise, add_overwrite, add_runtime, chosen_device, float_arg, int_arg,
                               label_option, positive_int)
from amips.data.io import check_distinct_paths, check_replaceable

NAME = "labels"
HELP = "noise-augment queries, exact top-1 labels, train/test split"
DESCRIPTION = ("Pipeline stage 2: noise-augment the queries of a dataset directory (from `amips generate`), "
               "compute each row's exact top-1 key and split the rows into train/test; write them to DIR.")


def _test_size(text: str) -> int | float:
    """argparse type of --test-size: an integer row count (>= MIN_TEST_ROWS) or a fraction in (0, 1)."""
    from amips.data.augment import MIN_TEST_ROWS

    if re.fullmatch(r"\d+", text.strip()):
        return int_arg(MIN_TEST_ROWS, BIG)(text)
    return float_arg(0, 1, low_open=True, high_open=True)(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="dataset directory with keys.npy and queries.npy")
    parser.add_argument("--out", required=True, help="output labels directory")
    add_overwrite(parser, "files in --out")
    add_noise(parser)
    parser.add_argument("--test-size", type=_test_size, default=0.2,
                        help="test rows: a fraction in (0, 1) or a count (at least 10)")
    parser.add_argument("--split", choices=("by_source", "pooled"), default="by_source",
                        help="by_source keeps all copies of a query on one side; pooled is the official split")
    parser.add_argument("--num-clusters", type=positive_int, default=1,
                        help="> 1: per-k-means-cluster targets (router)")
    add_runtime(parser)


def run(args: argparse.Namespace) -> None:
    from amips.core.runinfo import configure_torch
    from amips.pipeline.stages import make_labels

    device = chosen_device(args)
    configure_torch(args.threads, device)
    check_distinct_paths({"--out": args.out}, {"--data": args.data}, folders=True)
    check_replaceable({"--out": args.out}, args.overwrite, folders=True)
    cfg = {"noise_copies": label_option(args, "noise_copies"), "noise_std": label_option(args, "noise_std"),
           "test_size": args.test_size,
           "split": args.split, "num_clusters": args.num_clusters, "seed": args.seed}
    meta = make_labels(args.data, args.out, cfg, device)
    print(f"wrote labels for {meta['num_rows']} rows ({meta['num_train']} train, {meta['num_val']} validation, "
          f"{meta['num_test']} test) "
          f"to {args.out}")
