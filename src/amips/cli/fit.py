"""``amips fit``: train a model on your own keys/queries .npy files (labels, training and validation in one step)."""

from __future__ import annotations

import argparse
import dataclasses

from amips.cli.options import (add_model, add_noise, add_overwrite, add_retrieval, add_runtime, add_training,
                               build_model_spec, build_train_spec, chosen_device, float_arg, label_option,
                               retrieval_term, show_progress, training_option_names)

NAME = "fit"
HELP = "train a model on your own keys/queries .npy files"
DESCRIPTION = ("Train a model on your own embeddings: keys.npy [m, d] and queries.npy [n, d] (float, finite; "
               "integer and float64 arrays are converted to float32; queries are L2-normalised).\n"
               "Noisy query copies are added and every row is labelled with its exact top-1 key, then the model "
               "is trained and saved with its settings. Killed and rerun with the same arguments, it resumes from "
               "OUT.ckpt.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keys", required=True, help="keys .npy file [m, d]")
    parser.add_argument("--queries", required=True, help="training queries .npy file [n, d]")
    parser.add_argument("--out", required=True, help="model file to write (e.g. model.pt)")
    add_overwrite(parser, "an --out file")
    val = parser.add_argument_group("validation (weight selection and the logged validation metrics)")
    val.add_argument("--val-queries", default=None,
                     help="held-out queries .npy file [n_v, d] to validate on (then all of --queries is trained on)")
    val.add_argument("--val-fraction", type=float_arg(0, 1, high_open=True), default=None,
                     help="else: fraction of the queries kept aside for validation (default: 0.1; 0: none, needs "
                          "--select last)")
    val.add_argument("--split", choices=("by_source", "pooled"), default=None,
                     help="validation rows: all noisy copies of a query on one side (by_source, default) or rows "
                          "drawn at random (pooled, the official split's convention)")
    add_model(parser)
    add_training(parser, checkpoint_every=100)
    add_retrieval(parser)
    add_noise(parser)
    add_runtime(parser)


def run(args: argparse.Namespace) -> None:
    from amips.fit import fit_embeddings

    model_spec, train_spec = build_model_spec(args), build_train_spec(args)
    retrieval = retrieval_term(args)
    if retrieval is not None:
        train_spec = dataclasses.replace(train_spec, retrieval=retrieval)
    with training_option_names():
        info = fit_embeddings(args.keys, args.queries, args.out, model_spec, train_spec,
                              label_option(args, "noise_copies", 4), label_option(args, "noise_std", 0.02), args.seed,
                              chosen_device(args), args.threads, progress=show_progress(args), restart=args.restart,
                              val_fraction=(args.val_fraction if args.val_fraction is not None
                                            else label_option(args, "validation_fraction", 0.1)),
                              val_queries_path=args.val_queries, val_split=label_option(args, "split", "by_source"),
                              ivf_index_path=args.ivf_index, overwrite=args.overwrite)
    resumed = f", resumed from step {info['resumed_from_step']}" if info["resumed_from_step"] else ""
    selected = (f", selected step {info['selected_step']} (validation match rate {info['selected_val_match_rate']:.4f})"
                if "selected_val_match_rate" in info else "")
    print(f"saved {args.out} ({info['kind']}, {info['num_parameters']} parameters, "
          f"{info['train_seconds']:.1f} s{resumed}{selected})")
