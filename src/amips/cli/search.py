"""``amips search``: the top-k keys of queries, searched with the query itself or a model's predicted key, over all
keys or through a faiss IVF or HNSW index (built, or read back with --index)."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from amips.cli.choices import SEARCH_OUTPUTS
from amips.cli.options import (UsageError, add_allow_other_keys, add_overwrite, add_runtime, chosen_device, int_arg,
                               positive_int)
from amips.data.io import check_distinct_paths, check_replaceable
from amips.index.hnsw import HNSW_EF_CONSTRUCTION

if TYPE_CHECKING:
    import numpy as np

    from amips.index.base import Index

log = logging.getLogger("amips.cli.search")

NAME = "search"
HELP = "top-k keys of queries, searched with the query itself or a model's predicted key"
DESCRIPTION = (
    "Return the k keys with the largest inner product with each query: searched with the query itself (the "
    "baseline), or with the key a model predicts for it (--model); over all keys, or through a faiss IVF (--ivf) or "
    "HNSW (--hnsw) index, which --index saves and reuses.\n"
    "With a model and an index, the predicted key selects the candidates (the probed lists, the HNSW walk) and the "
    "query itself ranks them exactly (--rerank query, the default), or the index's own order by the predicted key "
    "is kept (--rerank none). Over all keys the ranking is exact (by the query, or by the predicted key).\n"
    "Output: .npz (indices [n, k], scores [n, k] = <query/||query||, key>), .npy (indices only) or .json. Through "
    "an index, an index of -1 (score -inf, null in JSON) means fewer than k keys were found.\n"
    "With --targets, --labels or --exact-recall it also prints recall@1 and recall@k against each query's exact "
    "top-1 key.")

IVF_OPTIONS = ("nlist", "nprobe")
HNSW_OPTIONS = ("hnsw_m", "ef_search", "ef_construction")
MODEL_OPTIONS = ("batch_size",)
BATCH_SIZE = 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None,
                        help="model file (or run directory) whose predicted key is searched with (default: none, "
                             "the query itself)")
    parser.add_argument("--keys", required=True, help="keys .npy file [m, d]")
    parser.add_argument("--queries", required=True, help="queries .npy file [n, d]")
    parser.add_argument("--k", type=int_arg(1, 10**6), default=10, help="number of keys returned per query")
    parser.add_argument("--out", required=True, help="results file: .npz, .npy or .json")
    add_overwrite(parser, "an --out file")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="queries per forward pass of --model (default: 1024)")
    add_allow_other_keys(parser)

    group = parser.add_argument_group("index (default: all keys, exactly)")
    kind = group.add_mutually_exclusive_group()
    kind.add_argument("--ivf", action="store_true", help="search a faiss IndexIVFFlat (inner product)")
    kind.add_argument("--hnsw", action="store_true", help="search a faiss IndexHNSWFlat (inner product)")
    group.add_argument("--index", default=None,
                       help="faiss index file: read and checked against --keys if it exists (an IVF index saved by "
                            "`amips fit --retrieval` as OUT.ivf is one), else built and saved there")
    group.add_argument("--nlist", type=positive_int, default=None,
                       help="IVF lists of a built index (default: floor(sqrt(m)); a read index keeps its own)")
    group.add_argument("--nprobe", type=positive_int, default=None, help="IVF lists probed per query (default: 8)")
    group.add_argument("--hnsw-m", type=int_arg(2, 4096), default=None,
                       help="HNSW links per node of a built index (default: 32; a read index keeps its own)")
    group.add_argument("--ef-construction", type=int_arg(1, 10**6), default=None,
                       help=f"HNSW efConstruction of a built index (default: {HNSW_EF_CONSTRUCTION}, as in the pipeline; a read "
                            "index keeps its own)")
    group.add_argument("--ef-search", type=int_arg(1, 10**6), default=None,
                       help="HNSW efSearch: candidates kept by the walk, at least k (default: 64)")
    group.add_argument("--rerank", choices=("query", "none"), default=None,
                       help="query: the index's candidates ranked exactly by the query itself; none: the index's "
                            "own float32 top-k by what it was searched with (the predicted key, or the query) "
                            "(default: query)")

    scored = parser.add_argument_group("recall (printed, not written)").add_mutually_exclusive_group()
    scored.add_argument("--targets", default=None,
                        help=".npy file of each query's exact top-1 key row (integers [n])")
    scored.add_argument("--labels", default=None,
                        help="amips labels folder (made from --keys) whose test, val or train split's queries file "
                             "is --queries")
    scored.add_argument("--exact-recall", action="store_true",
                        help="compute each query's exact top-1 key (an exhaustive search) and score against it")
    add_runtime(parser, seed_help="seed of the IVF k-means or the HNSW level draw when an index is built",
                threads_help="CPU threads for torch and faiss")


def run(args: argparse.Namespace) -> None:
    from amips.core.runinfo import configure_torch
    from amips.data.sets import load_key_query_files
    from amips.exact.labels import exact_topk
    from amips.index.hnsw import HNSW_EF_SEARCH
    from amips.index.ivf import NPROBE
    from amips.index.timing import set_threads
    from amips.search import (check_output_path, check_search_fits, default_rerank, labels_targets, load_mips_model,
                              read_targets, recall, save_results, search)

    kind = _kind(args)
    out = check_output_path(args.out)
    inputs = {"--keys": args.keys, "--queries": args.queries,
              **{f"--{name}": getattr(args, name) for name in ("model", "targets", "labels") if getattr(args, name)}}
    index_path = Path(args.index) if args.index else None
    if index_path is not None and index_path.exists():
        inputs["--index"] = index_path
    check_distinct_paths({"--out": out}, inputs)
    if index_path is not None and not index_path.exists():
        if index_path.resolve() == out.resolve():
            raise UsageError(f"--index {index_path} is also --out; give the index its own path")
        check_distinct_paths({"--index": index_path}, inputs)
    check_replaceable({"--out": out}, args.overwrite)
    device = chosen_device(args)
    configure_torch(args.threads, device)
    set_threads(args.threads)
    ds = load_key_query_files(args.keys, args.queries)
    n, m = ds.queries.shape[0], ds.keys.shape[0]
    _check_search_options(args, m, kind)
    ef_search = args.ef_search or HNSW_EF_SEARCH
    check_search_fits(n, args.k, ds.keys.shape[1], json_output=out.suffix == ".json",
                      candidates=max(ef_search, args.k) if kind == "hnsw" else 0)
    model = load_mips_model(args.model, ds.keys, args.allow_other_keys)[0] if args.model else None
    targets, scored_against = None, ""
    if args.targets:
        targets, scored_against = read_targets(args.targets, n, m), f"--targets {args.targets}"
    elif args.labels:
        targets, split = labels_targets(args.labels, ds.keys, args.keys, ds.queries)
        scored_against = f"--labels {args.labels}, {split} split"
    index = _index(args, kind, index_path, ds.keys)
    nprobe = args.nprobe or NPROBE
    if kind == "ivf" and nprobe > index.nlist:
        raise UsageError(f"--nprobe {nprobe} exceeds the {index.nlist} lists of --index {index_path}")
    rerank = args.rerank or default_rerank(index)
    t0 = time.perf_counter()
    result = search(model, ds.keys, ds.queries, args.k, index, {"ivf": nprobe, "hnsw": ef_search}.get(kind), rerank,
                    args.batch_size or BATCH_SIZE, device)
    seconds = time.perf_counter() - t0
    save_results(out, result)
    print(f"wrote the top-{args.k} keys of {n} queries ({_how(args, kind, index, nprobe, ef_search, rerank)}, "
          f"{seconds:.2f} s) to {out}")
    if args.exact_recall:
        targets = exact_topk(ds.queries, ds.keys, 1, device=device)[1][:, 0]
        scored_against = "--exact-recall"
    if targets is not None:
        shown = "  ".join(f"{name} {value:.4f}" for name, value in recall(result.indices, targets).items())
        print(f"{shown}  (exact top-1 of {n} queries: {scored_against})")


def _index(args: argparse.Namespace, kind: str | None, index_path: Path | None, keys: np.ndarray) -> Index | None:
    """The IVF or HNSW index of the options (None: all keys): read from --index and checked against the keys, or
    built (and saved to --index)."""
    from amips.index.hnsw import HnswIndex
    from amips.index.ivf import IvfFlatIndex

    if kind is None:
        return None
    index = (IvfFlatIndex(args.nlist, seed=args.seed) if kind == "ivf"
             else HnswIndex("ip", args.hnsw_m, args.ef_construction, seed=args.seed))
    if index_path is not None:
        return index.open(index_path, keys)[0]
    index.build(keys)
    log.info("built an %s in %.2f s (not saved; --index PATH saves it for reuse)", index.describe(),
             index.build_seconds)
    return index


def _how(args: argparse.Namespace, kind: str | None, index, nprobe: int, ef_search: int, rerank: str) -> str:
    """How the search ran, for the printed line: where, and with which query."""
    probe = f"the predicted key of {args.model}" if args.model else "the query itself"
    if kind is None:
        return f"exhaustive, with {probe}"
    where = (f"IVF, nprobe {nprobe} of {index.nlist} lists" if kind == "ivf"
             else f"HNSW, M {index.m_links}, efSearch {max(ef_search, args.k)}")
    if not args.model:
        return f"{where}, with the query itself" + (" (faiss order)" if rerank == "none" else "")
    if rerank == "none":
        return f"{where}, with {probe} (the index's order)"
    return f"{where}, probed with {probe}, ranked by the query itself"


def _kind(args: argparse.Namespace) -> str | None:
    return "ivf" if args.ivf else "hnsw" if args.hnsw else None


def check_arguments(args: argparse.Namespace) -> None:
    """The argument errors found without reading a file or importing torch (run by :func:`amips.cli.main` first):
    the --out format and options that only apply to another mode (errors, not silently ignored)."""
    if Path(args.out).suffix not in SEARCH_OUTPUTS:
        raise UsageError(f"output file {args.out} must end in one of {', '.join(SEARCH_OUTPUTS)}")
    _check_option_combinations(args, _kind(args))


def _check_option_combinations(args: argparse.Namespace, kind: str | None) -> None:
    """Options that only apply to another mode are errors, not silently ignored."""
    if args.index and kind is None:
        raise UsageError(f"--index {args.index} needs --ivf or --hnsw (the kind of index to read or build)")
    for options, needs in ((IVF_OPTIONS, "ivf"), (HNSW_OPTIONS, "hnsw")):
        for option in options:
            if getattr(args, option) is not None and kind != needs:
                raise UsageError(f"--{option.replace('_', '-')} needs --{needs}")
    if args.rerank is not None and kind is None:
        raise UsageError(f"--rerank {args.rerank} needs --ivf or --hnsw (over all keys the ranking is already exact)")
    if not args.model:
        for option in MODEL_OPTIONS:
            if getattr(args, option) is not None:
                raise UsageError(f"--{option.replace('_', '-')} needs --model")
        if args.allow_other_keys:
            raise UsageError("--allow-other-keys needs --model")


def _check_search_options(args: argparse.Namespace, num_keys: int, kind: str | None) -> None:
    """--k, --nlist and --nprobe against the number of keys in --keys (errors name the options)."""
    from amips.index.base import default_nlist
    from amips.index.ivf import NPROBE

    if args.k > num_keys:
        raise UsageError(f"--k {args.k} exceeds the {num_keys} keys in --keys {args.keys}")
    if kind == "ivf":
        if args.nlist is not None and args.nlist > num_keys:
            raise UsageError(f"--nlist {args.nlist} exceeds the {num_keys} keys in --keys {args.keys}")
        nprobe = args.nprobe or NPROBE
        if args.nlist is not None and nprobe > args.nlist:
            raise UsageError(f"--nprobe {nprobe} exceeds the index's {args.nlist} lists")
        if args.nlist is None and not (args.index and Path(args.index).exists()) and nprobe > default_nlist(num_keys):
            raise UsageError(f"--nprobe {nprobe} exceeds the index's {default_nlist(num_keys)} lists "
                             "(--nlist default: floor(sqrt(m)))")
