"""``amips evaluate``: the metrics table of a trained model, on a labels directory's test split or on any queries."""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from amips.cli.options import UsageError, add_allow_other_keys, add_overwrite, add_runtime, chosen_device, positive_int
from amips.data.io import atomic_write_json, check_distinct_paths, check_replaceable
from amips.data.locks import exclusive_lock
from amips.cli.choices import RANK_TIES, RECALL_1PCT
from amips.training.presets import PRESETS, preset

NAME = "evaluate"
HELP = "print the metrics table of a trained model"
DESCRIPTION = ("Evaluate a model: match rate, MRR, recall@k, key/score errors of searching with its predicted key.\n"
               "Either on the test split of a labels directory (--labels) or on any queries (--queries), whose "
               "exact top-1 keys are computed first; the first line says which queries were scored (and a warning "
               "when they are the ones the model was trained from).\nBeside the model's numbers it prints the "
               "baselines it must beat on the same queries: the query itself (exact search) and, on an IVF index, "
               "recall@1 of probing with x vs with the predicted key at the same nprobe.")


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
    conventions = parser.add_argument_group("conventions (unset: the --preset's, else amips' own)")
    conventions.add_argument("--preset", choices=sorted(PRESETS), default=None,
                             help="official: the official evaluation conventions (--rank-ties strict "
                                  "--recall-at-1pct floor)")
    conventions.add_argument("--rank-ties", choices=RANK_TIES, default=None,
                             help="keys scoring equal to the true key: index (amips: the lower index ahead, the labels' "
                                  "order) or strict (official: only strictly greater scores count as ahead)")
    conventions.add_argument("--recall-at-1pct", choices=RECALL_1PCT, default=None,
                             help="recall@1%% over ceil(0.01·m) keys (amips) or floor(0.01·m) (official)")
    base = parser.add_argument_group("baselines printed beside the model's numbers")
    base.add_argument("--baselines", action=argparse.BooleanOptionalAction, default=True,
                      help="also score the query itself (exact search) and IVF probing with x vs the predicted key")
    base.add_argument("--ivf-index", default=None,
                      help="faiss IVF index over the keys to probe (e.g. the OUT.ivf `amips fit` saved; default: one "
                           "built with --nlist lists, seed 0)")
    base.add_argument("--nlist", type=positive_int, default=None, help="lists of the index built (default: floor(sqrt(m)))")
    add_runtime(parser, seed=False)


def conventions(args: argparse.Namespace) -> dict[str, str]:
    """rank_ties and recall_at_1pct: the options given, else the --preset's, else amips' own (index, ceil)."""
    chosen = {"rank_ties": "index", "recall_at_1pct": "ceil", **preset(args.preset)["evaluation"]}
    chosen.update({name: getattr(args, name) for name in ("rank_ties", "recall_at_1pct") if getattr(args, name)})
    return chosen


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
                  "--queries": args.queries, "--ivf-index": args.ivf_index}
        check_distinct_paths({"--out": args.out}, {k: v for k, v in inputs.items() if v is not None})
        check_replaceable({"--out": args.out}, args.overwrite)
    device = chosen_device(args)
    chosen = conventions(args)
    index = {"ivf_index_path": args.ivf_index, "nlist": args.nlist}
    if args.labels is not None:
        from amips.fit import labels_extras
        from amips.pipeline.stages.evaluate import evaluate_run

        with exclusive_lock(args.out, "evaluation") if args.out is not None else contextlib.nullcontext():
            record = evaluate_run(args.model, keys, args.labels, None, device=device, threads=args.threads,
                                  batch_size=args.batch_size, allow_other_keys=args.allow_other_keys,
                                  conventions=chosen)
            record["scored"] = f"the test split of {args.labels}"
            record.update(labels_extras(args.model, keys, args.labels, device, args.batch_size, args.allow_other_keys,
                                        chosen, args.baselines, **index))
            if args.out is not None:
                atomic_write_json(args.out, record)
    else:
        from amips.fit import evaluate_queries

        with exclusive_lock(args.out, "evaluation") if args.out is not None else contextlib.nullcontext():
            record = evaluate_queries(args.model, keys, args.queries, device, args.threads, args.batch_size,
                                      args.allow_other_keys, chosen, args.baselines, **index)
            if args.out is not None:
                atomic_write_json(args.out, record)
    print(f"scored: {record['scored']} ({record['num_test_queries']} queries); conventions: rank ties "
          f"{record['rank_ties']}, recall@1% over {record['recall_at_1pct']}(0.01·m) keys")
    if record.get("homogenization_noop"):
        print(f"note: homogenization {record['homogenization']} does nothing for this {record['kind']} on these "
              "unit-norm queries: it computes the same function as homogenization none")
    print(format_metrics(record))
    if "baselines" in record:
        from amips.evaluation.baselines import format_baselines

        print(format_baselines(record["baselines"]))


def format_metrics(record: dict[str, Any]) -> str:
    """The summary metrics of an evaluation record (those of ``results/tables/summary.csv``) as a 2-column table."""
    from amips.reporting.tables import SUMMARY_METRICS

    rows = [(name, record[name]) for name in (*SUMMARY_METRICS, "num_test_queries") if name in record]
    width = max(len(name) for name, _ in rows)
    lines = [f"{'metric':<{width}}  value"]
    lines += [f"{name:<{width}}  {value:.4f}" if isinstance(value, float) else f"{name:<{width}}  {value}"
              for name, value in rows]
    return "\n".join(lines)
