"""``amips predict``: write the key (and score) a model predicts for each query."""

from __future__ import annotations

import argparse
from pathlib import Path

from amips.cli.options import UsageError, add_overwrite, add_runtime, chosen_device, positive_int
from amips.data.io import check_distinct_paths, check_replaceable

NAME = "predict"
HELP = "write the model's predicted keys (and scores) for queries"
DESCRIPTION = ("Write the key the model predicts for each query: KeyNet output or SupportNet gradient, "
               "[n, d] for a MIPS model, [n, C, d] for a C-cluster router.\nOutput: .npy (keys) or .npz "
               "(keys and scores [n] / [n, C]). Queries are L2-normalised first, as in training.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model file")
    parser.add_argument("--queries", required=True, help="queries .npy file [n, d]")
    parser.add_argument("--out", required=True, help="output file: .npy (keys) or .npz (keys, scores)")
    add_overwrite(parser, "an --out file")
    parser.add_argument("--batch-size", type=positive_int, default=1024, help="queries per forward pass")
    add_runtime(parser, seed=False)


def run(args: argparse.Namespace) -> None:
    from amips.core.runinfo import configure_torch
    from amips.search import predict_keys, save_predictions

    out = Path(args.out)
    if out.suffix not in (".npy", ".npz"):
        raise UsageError(f"output file {out} must end in .npy or .npz (see amips predict --help)")
    check_distinct_paths({"--out": out}, {"--model": args.model, "--queries": args.queries})
    check_replaceable({"--out": out}, args.overwrite)
    device = chosen_device(args)
    configure_torch(args.threads, device)
    keys, scores = predict_keys(args.model, args.queries, args.batch_size, device)
    save_predictions(out, keys, scores)
    shape = "×".join(str(n) for n in keys.shape)
    print(f"wrote the predicted keys [{shape}] of {keys.shape[0]} queries to {out}")
