"""``amips train``: pipeline stage 3, train a SupportNet or KeyNet on the train split of a labels directory."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from amips.cli.options import (add_model, add_overwrite, add_routing, add_runtime, add_training, build_model_spec,
                               build_train_spec, chosen_device, routing_term, show_progress, training_option_names)
from amips.data.io import check_distinct_paths, check_replaceable

NAME = "train"
HELP = "train a model on a labels directory"
DESCRIPTION = ("Pipeline stage 3: train a SupportNet or KeyNet on the train split of a labels directory; write "
               "DIR/model.pt and DIR/history.json. An interrupted run resumes from DIR/checkpoint.pt.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="dataset directory with keys.npy")
    parser.add_argument("--labels", required=True, help="labels directory (from `amips labels`)")
    parser.add_argument("--out", required=True, help="run directory")
    add_overwrite(parser, "files in --out")
    add_model(parser)
    add_training(parser, checkpoint_every=200)
    add_routing(parser)
    add_runtime(parser)


def run(args: argparse.Namespace) -> None:
    from amips.data.folders import dataset_keys
    from amips.pipeline.stages.train import train_run

    check_distinct_paths({"--out": args.out}, {"--data": args.data, "--labels": args.labels}, folders=True)
    check_replaceable({"--out": args.out}, args.overwrite, folders=True)
    model_spec, train_spec = build_model_spec(args), build_train_spec(args)
    routing = routing_term(args)
    if routing is not None:
        train_spec = dataclasses.replace(train_spec, routing=routing)
    with training_option_names():
        info = train_run(dataset_keys(args.data), args.labels, args.out, model_spec, train_spec, args.seed,
                         chosen_device(args), args.threads, progress=show_progress(args), on_stale="error",
                         stale_hint="rerun with --restart to discard it and train from step 0", restart=args.restart)
    print(f"saved {Path(args.out) / 'model.pt'} ({info['kind']}, {info['num_parameters']} parameters, "
          f"{info['train_seconds']:.1f} s)")
