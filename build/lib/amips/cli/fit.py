"""``amips fit``: train a model on your own keys/queries .npy files (labels, training and validation in one step)."""

from __future__ import annotations

import argparse
import logging

from amips.cli.options import (add_model, add_noise, add_overwrite, add_retrieval, add_runtime, add_training,
                               build_model_spec, build_train_spec, chosen_device, float_arg, label_option,
                               show_progress, shown_default, training_option_names)

log = logging.getLogger("amips.fit")

NAME = "fit"
PRESET = "recommended"  # the preset fit uses unless --preset says otherwise
HELP = "train a model on your own keys/queries .npy files"
DESCRIPTION = ("Train a model on your own embeddings: keys.npy [m, d] and queries.npy [n, d] (float, finite; "
               "integer and float64 arrays are converted to float32; queries are L2-normalised).\n"
               "Noisy query copies are added and every row is labelled with its exact top-1 key, then the model "
               "is trained and saved with its settings. Killed and rerun with the same arguments, it resumes from "
               "OUT.ckpt.\nDefaults (--preset recommended): the best recipe measured on real text — a residual KeyNet "
               "trained with the retrieval term on an IVF index it saves as OUT.ivf (search it with `amips search "
               "--ivf --index OUT.ivf`); --preset official for the official code's settings. At the end it prints "
               "the model's numbers beside the query itself and IVF probing with x vs the predicted key.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keys", required=True, help="keys .npy file [m, d]")
    parser.add_argument("--queries", required=True, help="training queries .npy file [n, d]")
    parser.add_argument("--out", required=True, help="model file to write (e.g. model.pt)")
    add_overwrite(parser, "an --out file")
    val = parser.add_argument_group("validation (weight selection and the logged validation metrics)")
    val.add_argument("--val-queries", default=None,
                     help="held-out queries .npy file [n_v, d] to validate on (then all of --queries is trained on)")
    val.add_argument("--val-fraction", type=float_arg(0, 1, high_open=True), default=None,
                     help="else: fraction of the queries kept aside for validation (0: none, needs --select last) "
                          + shown_default("labels", "validation_fraction", PRESET))
    val.add_argument("--split", choices=("by_source", "pooled"), default=None,
                     help="validation rows: all noisy copies of a query on one side (by_source) or rows drawn at "
                          "random (pooled, the official split's convention) " + shown_default("labels", "split", PRESET))
    val.add_argument("--baselines", action=argparse.BooleanOptionalAction, default=True,
                     help="print, after training, the model's numbers beside the query itself (exact search) and "
                          "IVF probing with x vs the predicted key on the validation queries")
    add_model(parser, default_preset=PRESET)
    add_training(parser, checkpoint_every=100, default_preset=PRESET)
    add_retrieval(parser)
    add_noise(parser, default_preset=PRESET)
    add_runtime(parser)


def run(args: argparse.Namespace) -> None:
    from amips.evaluation.baselines import format_baselines
    from amips.fit import fit_embeddings
    from amips.models.homogenize import is_noop
    from amips.models.sizing import budget_note

    model_spec, train_spec = build_model_spec(args), build_train_spec(args)
    noop = is_noop(model_spec.homogenization, model_spec.kind, unit_norm_queries=True)
    if noop and args.homogenization is None:  # a default never picks a wrapper that does nothing here
        log.info("homogenization none: the default %s wrapper of a %s equals the raw network on fit's unit-norm "
                 "queries", model_spec.homogenization, model_spec.kind)
        model_spec = model_spec.replace(homogenization="none")
    elif noop:
        log.warning("--homogenization %s does nothing for a %s here: fit L2-normalises the queries and the wrapper "
                    "equals the raw network at ||x|| = 1 (use --homogenization none; it trains the same function)",
                    model_spec.homogenization, model_spec.kind)
    log.info("recipe: %s", describe_recipe(args, model_spec, train_spec))
    with training_option_names():
        info = fit_embeddings(args.keys, args.queries, args.out, model_spec, train_spec,
                              label_option(args, "noise_copies"), label_option(args, "noise_std"), args.seed,
                              chosen_device(args), args.threads, progress=show_progress(args), restart=args.restart,
                              val_fraction=(args.val_fraction if args.val_fraction is not None
                                            else label_option(args, "validation_fraction")),
                              val_queries_path=args.val_queries, val_split=label_option(args, "split"),
                              ivf_index_path=args.ivf_index, overwrite=args.overwrite,
                              cap_batch=args.batch_size is None, with_baselines=args.baselines)
    resumed = f", resumed from step {info['resumed_from_step']}" if info["resumed_from_step"] else ""
    if info.get("stopped_at_step"):
        resumed += f", stopped at step {info['stopped_at_step']} of {train_spec.steps} (--patience {train_spec.patience})"
    metric = next((name for name in info if name.startswith("selected_val_")), None)
    selected = (f", selected step {info['selected_step']} ({metric[len('selected_val_'):].replace('_', ' ')} on "
                f"validation {info[metric]:.4f})" if metric else "")
    print(f"saved {args.out} ({info['kind']}, {info['num_parameters']:,} parameters, "
          f"{info['train_seconds']:.1f} s{resumed}{selected})")
    note = budget_note(info["num_parameters"], info["parameter_budget"], info["budget_rule"])
    if note is not None:
        print(f"note: {note}")
    if "baselines" in info:
        print(format_baselines(info["baselines"]))


def describe_recipe(args: argparse.Namespace, model_spec, train_spec) -> str:
    """One line naming the preset and the settings that decide the result (what the README's numbers state)."""
    term = train_spec.retrieval
    retrieval = (f"retrieval {term['name']} weight {term.get('weight', 1.0)}"
                 + (f" τ {term['temperature']}" if "temperature" in term else "")) if term else "no retrieval term"
    return (f"preset {args.preset}: {model_spec.kind}{' resnet' if model_spec.resnet else ''}, homogenization "
            f"{model_spec.homogenization}, depth {model_spec.depth}, budget {model_spec.parameters_fraction}·m·d; "
            f"{train_spec.steps} steps of {train_spec.batch_size}, lr {train_spec.lr_peak}, {retrieval}; "
            f"{label_option(args, 'noise_copies')} noisy copies; select {train_spec.select}"
            + (f", patience {train_spec.patience}" if train_spec.patience else ""))
