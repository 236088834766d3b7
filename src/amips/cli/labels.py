"""``amips labels``: pipeline stage 2, noise-augmented queries with their exact top-1 keys, split into train/test."""

from __future__ import annotations

import argparse
import functools
import re

from amips.cli.options import (BIG, add_noise, add_overwrite, add_runtime, chosen_device, float_arg, int_arg,
                               label_option, positive_int, shown_default)
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
    shown = functools.partial(shown_default, "labels", default_preset=None)
    parser.add_argument("--query-norms", choices=("unit", "source", "raw"), default=None,
                        help="norm of every labelled row: unit (renormalised, official), source (the source query's "
                             f"norm) or raw (x + noise as it is) {shown('query_norms')}")
    parser.add_argument("--test-size", type=_test_size, default=None,
                        help=f"test rows: a fraction in (0, 1) or a count (at least 10) {shown('test_size')}")
    parser.add_argument("--validation-fraction", type=float_arg(0, 1, high_open=True), default=None,
                        help="share of the training source queries kept aside to select weights (0: none) "
                             + shown("validation_fraction"))
    parser.add_argument("--split", choices=("by_source", "pooled"), default=None,
                        help="by_source keeps all copies of a query on one side; pooled is the official split "
                             + shown("split"))
    parser.add_argument("--num-clusters", type=positive_int, default=None,
                        help=f"> 1: per-k-means-cluster targets (router) {shown('num_clusters')}")
    add_runtime(parser)


def run(args: argparse.Namespace) -> None:
    from amips.core.runinfo import configure_torch
    from amips.pipeline.stages.labels import make_labels

    device = chosen_device(args)
    configure_torch(args.threads, device)
    check_distinct_paths({"--out": args.out}, {"--data": args.data}, folders=True)
    check_replaceable({"--out": args.out}, args.overwrite, folders=True)
    given = {name: getattr(args, name) for name in ("query_norms", "test_size", "validation_fraction", "split",
                                                     "num_clusters")}
    cfg = {"noise_copies": label_option(args, "noise_copies"), "noise_std": label_option(args, "noise_std"),
           "seed": args.seed, **{k: v for k, v in given.items() if v is not None}}  # the rest: the schema's
    meta = make_labels(args.data, args.out, cfg, device)
    print(f"wrote labels for {meta['num_rows']} rows ({meta['num_train']} train, {meta['num_val']} validation, "
          f"{meta['num_test']} test) "
          f"to {args.out}")
