"""``amips search``: the top-k keys of queries, searched with the model's predicted key (exhaustively or by IVF)."""

from __future__ import annotations

import argparse
import time

from amips.cli.options import (UsageError, add_allow_other_keys, add_overwrite, add_runtime, chosen_device, int_arg,
                               positive_int)
from amips.data.io import check_distinct_paths, check_replaceable

NAME = "search"
HELP = "top-k keys of queries, searched with the model's predicted key"
DESCRIPTION = ("Predict each query's key with the model, then return the k keys with the largest inner product "
               "with it: exhaustively, or through a faiss IVF index (--ivf).\nOutput: .npz (indices [n, k], "
               "scores [n, k] = <query/||query||, key>), .npy (indices only) or .json. With --ivf, an index of -1 "
               "(score -inf, null in JSON) means fewer than k keys were in the probed lists.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model file")
    parser.add_argument("--keys", required=True, help="keys .npy file [m, d]")
    parser.add_argument("--queries", required=True, help="queries .npy file [n, d]")
    parser.add_argument("--k", type=int_arg(1, 10**6), default=10, help="number of keys returned per query")
    parser.add_argument("--out", required=True, help="results file: .npz, .npy or .json")
    add_overwrite(parser, "an --out file")
    parser.add_argument("--ivf", action="store_true",
                        help="search a faiss IndexIVFFlat (inner product) instead of all keys")
    parser.add_argument("--nlist", type=positive_int, default=None, help="IVF lists (default: floor(sqrt(m)))")
    parser.add_argument("--nprobe", type=positive_int, default=8, help="IVF lists probed per query")
    parser.add_argument("--batch-size", type=positive_int, default=1024, help="queries per forward pass")
    add_allow_other_keys(parser)
    add_runtime(parser)


def run(args: argparse.Namespace) -> None:
    from amips.core.runinfo import configure_torch
    from amips.data.sets import load_key_query_files
    from amips.search import check_output_path, check_search_fits, load_mips_model, save_results, search

    out = check_output_path(args.out)
    check_distinct_paths({"--out": out}, {"--model": args.model, "--keys": args.keys, "--queries": args.queries})
    check_replaceable({"--out": out}, args.overwrite)
    device = chosen_device(args)
    configure_torch(args.threads, device)
    ds = load_key_query_files(args.keys, args.queries)
    _check_search_options(args, ds.keys.shape[0])
    check_search_fits(ds.queries.shape[0], args.k, ds.keys.shape[1], json_output=out.suffix == ".json")
    model, _ = load_mips_model(args.model, ds.keys, args.allow_other_keys)
    t0 = time.perf_counter()
    result = search(model, ds.keys, ds.queries, args.k, ivf=args.ivf, nlist=args.nlist, nprobe=args.nprobe,
                    batch_size=args.batch_size, device=device, seed=args.seed)
    seconds = time.perf_counter() - t0
    save_results(out, result)
    how = f"IVF, nprobe {args.nprobe}" if args.ivf else "exhaustive"
    print(f"wrote the top-{args.k} keys of {ds.queries.shape[0]} queries ({how}, {seconds:.2f} s) to {out}")


def _check_search_options(args: argparse.Namespace, num_keys: int) -> None:
    """--k, --nlist and --nprobe against the number of keys in --keys (errors name the options)."""
    from amips.exact.ivf import default_nlist

    if args.k > num_keys:
        raise UsageError(f"--k {args.k} exceeds the {num_keys} keys in --keys {args.keys}")
    if args.ivf:
        if args.nlist is not None and args.nlist > num_keys:
            raise UsageError(f"--nlist {args.nlist} exceeds the {num_keys} keys in --keys {args.keys}")
        nlist = args.nlist or default_nlist(num_keys)
        if args.nprobe > nlist:
            raise UsageError(f"--nprobe {args.nprobe} exceeds the index's {nlist} lists"
                             f"{'' if args.nlist else ' (--nlist default: floor(sqrt(m)))'}")
