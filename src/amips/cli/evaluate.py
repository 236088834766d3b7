"""``amips evaluate``: the metrics table of a trained model, on a labels directory's test split or on any queries."""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from amips.cli.options import UsageError, add_allow_other_keys, add_overwrite, add_runtime, chosen_device, positive_int
from amips.data.io import check_distinct_paths, check_replaceable

NAME = "evaluate"
HELP = "print the metrics table of a trained model"
DESCRIPTION = ("Evaluate a model: match rate, MRR, recall@k, key/score errors of searching with its predicted key.\n"
               "Either on the test split of a labels directory (--labels) or on any queries (--queries), whose "
               "exact top-1 keys are computed first.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model file (model.pt from `amips train` or `amips fit`)")
    keys = parser.add_mutually_exclusive_group(required=True)
    keys.add_argument("--keys", help="keys .npy file [m, d]")
    keys.add_argument("--data", help="dataset directory with keys.npy")
    parser.add_argument("--labels", help="labels directory: evaluate on its test split")
    parser.add_argument("--queries", help="queries .npy file [n, d]: evaluate on these")
    parser.add_argument("--out", default=None, help="also write every field (metrics, train info) to this JSON file")
    add_overwrite(parser, "an --out file")
    parser.add_argument("--batch-size", type=positive_int, default=1024, help="queries per forward pass")
    add_allow_other_keys(parser)
    add_runtime(parser, seed=False)


def run(args: argparse.Namespace) -> None:
    if (args.labels is None) == (args.queries is None):
        raise UsageError("give exactly one of --labels (a labels directory) or --queries (a .npy file) "
                         "(see amips evaluate --help)")
    if args.keys is not None:
        keys = args.keys
    else:
        from amips.data.folders import dataset_keys

        keys = dataset_keys(args.data)
    if args.out is not None:
        inputs = {"--model": args.model, "--keys" if args.keys is not None else "--data": keys, "--labels": args.labels,
                  "--queries": args.queries}
        check_distinct_paths({"--out": args.out}, {k: v for k, v in inputs.items() if v is not None})
        check_replaceable({"--out": args.out}, args.overwrite)
    device = chosen_device(args)
    if args.labels is not None:
        from amips.pipeline.stages import evaluate_run

        record = evaluate_run(args.model, keys, args.labels, args.out, device=device, threads=args.threads,
                              batch_size=args.batch_size, allow_other_keys=args.allow_other_keys)
    else:
        from amips.data.io import atomic_write_json, exclusive_lock
        from amips.fit import evaluate_queries

        with exclusive_lock(args.out, "evaluation") if args.out is not None else contextlib.nullcontext():
            record = evaluate_queries(args.model, keys, args.queries, device, args.threads, args.batch_size,
                                      args.allow_other_keys)
            if args.out is not None:
                atomic_write_json(args.out, record)
    print(format_metrics(record))


def format_metrics(record: dict[str, Any]) -> str:
    """The summary metrics of an evaluation record (those of ``results/tables/summary.csv``) as a 2-column table."""
    from amips.reporting.tables import SUMMARY_METRICS

    rows = [(name, record[name]) for name in (*SUMMARY_METRICS, "num_test_queries") if name in record]
    width = max(len(name) for name, _ in rows)
    lines = [f"{'metric':<{width}}  value"]
    lines += [f"{name:<{width}}  {value:.4f}" if isinstance(value, float) else f"{name:<{width}}  {value}"
              for name, value in rows]
    return "\n".join(lines)
