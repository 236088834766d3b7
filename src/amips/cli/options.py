"""What the commands share: argument types, the option groups several commands add, and the readers of those options."""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import re
import sys
from typing import TYPE_CHECKING, Any, Callable, Iterator

from amips.cli.choices import (HOMOGENIZATIONS, LABEL_DEFAULTS, MODEL_DEFAULTS, MODEL_KINDS, RECTIFIERS,
                               RETRIEVAL_TERMS, ROUTING_TERMS, SELECTIONS, TRAIN_DEFAULTS)
from amips.training.presets import PLAIN_TRAINING, PRESETS, preset, preset_fields, training_fields

if TYPE_CHECKING:
    from amips.models.spec import ModelSpec
    from amips.training.train import TrainSpec


class UsageError(Exception):
    """A command-line mistake (unknown option, invalid value); reported without the usage block."""


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of descriptions; appends the default of options that have a meaningful one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = action.default is not None and action.default is not False and action.default != argparse.SUPPRESS
        if shown and action.option_strings and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


# ---------------------------------------------------------------------------------------------------- argument types


MAX_SEED = 2**32 - 1
BIG = 10**9  # upper bound of step and row counts: far above any real use, far below an int64 overflow


def int_arg(low: int, high: int) -> Callable[[str], int]:
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


def float_arg(low: float, high: float, low_open: bool = False, high_open: bool = False) -> Callable[[str], float]:
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


positive_int = int_arg(1, BIG)
seed_int = int_arg(0, MAX_SEED)
threads_int = int_arg(1, 1024)


def device_name(text: str) -> str:
    """argparse type of --device: cpu, auto, cuda or cuda:N."""
    if not re.fullmatch(r"cpu|auto|cuda(:\d+)?", text):
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; use cpu, cuda, cuda:N or auto")
    return text


# ---------------------------------------------------------------------------------------------------- option groups


def add_common(parser: argparse.ArgumentParser) -> None:
    """--debug and --quiet, which every command has."""
    group = parser.add_argument_group("messages")
    group.add_argument("--debug", action="store_true", help="print the traceback of an error (or set AMIPS_DEBUG=1)")
    group.add_argument("--quiet", action="store_true", help="only print results and errors (no log lines)")


def add_runtime(parser: argparse.ArgumentParser, seed: bool = True, seed_help: str | None = None,
                threads_help: str | None = None) -> None:
    """--device, --threads and (with ``seed``) --seed; ``seed_help``/``threads_help`` replace the help of --seed and
    --threads for a command where the training meaning does not apply."""
    group = parser.add_argument_group("compute")
    group.add_argument("--device", type=device_name, default="cpu",
                       help="cpu, cuda, cuda:N or auto (cuda when available)")
    group.add_argument("--threads", type=threads_int, default=1, help=threads_help or "CPU threads for torch")
    if seed:
        group.add_argument("--seed", type=seed_int, default=0,
                           help=seed_help or "random seed (noise, initialisation, batch order)")


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else str(value)


def shown_default(section: str, field: str, default_preset: str | None, plain: Any = None) -> str:
    """The '(default: …)' of an option's help: the value the command's default preset uses when it sets ``field``
    (with the plain default of ``--preset none`` beside it), else the plain default (``plain``, or the mirror of
    the spec's default in :mod:`amips.cli.choices`)."""
    if plain is None:
        plain = {"model": MODEL_DEFAULTS, "training": {**PLAIN_TRAINING, **TRAIN_DEFAULTS},
                 "labels": LABEL_DEFAULTS}[section][field]
    chosen = preset(default_preset)
    by_kind = {kind: values[field] for kind, values in chosen["model_by_kind"].items() if field in values} \
        if section == "model" else {}
    if field in chosen[section] or by_kind:
        value = _shown(chosen[section][field]) if field in chosen[section] else \
            ", ".join(f"{_shown(v)} for a {kind}" for kind, v in by_kind.items())
        return f"(default: {value}, from --preset {default_preset}; --preset none: {_shown(plain)})"
    return f"(default: {_shown(plain)})"


def add_model(parser: argparse.ArgumentParser, default_preset: str | None = None) -> None:
    """The ModelSpec options (read by :func:`build_model_spec`); the help shows ``default_preset``'s values."""
    shown = functools.partial(shown_default, "model", default_preset=default_preset)
    group = parser.add_argument_group("model (unset options: the --preset value, else the ModelSpec default)")
    group.add_argument("--model", choices=MODEL_KINDS, default="keynet",
                       help="supportnet: convex potential, key = its gradient; keynet: the key is regressed directly")
    homogenization = preset(default_preset)["homogenization"]
    group.add_argument("--homogenization", choices=HOMOGENIZATIONS, default=None,
                       help="radial: 1-homogeneous score (x/||x|| inside the network); none: the raw network "
                            + (f"(default: {', '.join(f'{v} for a {k}' for k, v in homogenization.items())}, from "
                               f"--preset {default_preset}; --preset none: {MODEL_DEFAULTS['homogenization']})"
                               if homogenization else f"(default: {MODEL_DEFAULTS['homogenization']})"))
    group.add_argument("--parameters-fraction", type=float_arg(0, 1000, low_open=True), default=None,
                       help=f"parameter budget as a fraction of m·d, the size of the keys {shown('parameters_fraction')}")
    group.add_argument("--width", type=int_arg(1, 10**6), default=None,
                       help="hidden width (default: solved from --parameters-fraction)")
    group.add_argument("--depth", type=int_arg(1, 1000), default=None,
                       help=f"number of hidden layers {shown('depth')}")
    group.add_argument("--wx-inject", type=int_arg(1, 1000), default=None,
                       help=f"re-inject the input x into every k-th layer {shown('wx_inject')}")
    group.add_argument("--rectifier", choices=RECTIFIERS, default=None,
                       help=f"SupportNet weight map; softplus/relu make it provably convex {shown('rectifier')}")
    group.add_argument("--resnet", action="store_true", default=None,
                       help=f"KeyNet predicts a residual: g(x) = x + net(x) {shown('resnet')}")
    group.add_argument("--budget-rule", choices=("official", "exact"), default=None,
                       help=f"official (rectangular_dims) or exact parameter counting {shown('budget_rule')}")
    group.add_argument("--activation-slope", type=float_arg(0, 1, high_open=True), default=None,
                       help=f"soft-leaky-ReLU negative slope a {shown('activation_slope')}")
    group.add_argument("--activation-beta", type=float_arg(0, 1e4, low_open=True), default=None,
                       help=f"soft-leaky-ReLU sharpness beta {shown('activation_beta')}")
    group.add_argument("--output-activation", action=argparse.BooleanOptionalAction, default=None,
                       help=f"apply the activation to the output layer too, as the official code "
                            f"{shown('output_activation')}")
    group.add_argument("--use-bias", action=argparse.BooleanOptionalAction, default=None,
                       help=f"biases on the first and z-path layers {shown('use_bias')}")
    group.add_argument("--principled-init", action=argparse.BooleanOptionalAction, default=None,
                       help=f"SupportNet log-normal z-path initialisation (Hoedt & Klambauer) {shown('principled_init')}")
    group.add_argument("--init-bias-sign", type=int, choices=(1, -1), default=None,
                       help=f"sign of the principled-init bias: +1 official code, -1 the reference paper "
                            f"{shown('init_bias_sign')}")


PRESET_HELP = {
    "official": "every setting of the official code (FiQA config)",
    "recommended": "the best recipe measured on real text (WordNet-50k, MiniLM): residual KeyNet, depth 4, budget "
                   "0.01·m·d, retrieval term list_ce 0.1 / τ 0.05, 1200 steps of 1024, lr 0.002, 2 noisy copies, "
                   "patience 3",
}


def add_training(parser: argparse.ArgumentParser, checkpoint_every: int, default_preset: str | None = None) -> None:
    """The TrainSpec options and --preset (read by :func:`build_train_spec`); ``default_preset`` applies when
    --preset is not given (``none`` on the command line turns it off)."""
    group = parser.add_argument_group("training (unset options: the --preset value, else the default shown)")
    choices = sorted(PRESETS) + (["none"] if default_preset is not None else [])
    group.add_argument("--preset", choices=choices, default=default_preset,
                       help="; ".join(f"{name}: {text}" for name, text in PRESET_HELP.items())
                            + " (see amips.training.presets); options given explicitly override it"
                            + ("; none: the plain defaults shown" if default_preset is not None else ""))
    shown = functools.partial(shown_default, "training", default_preset=default_preset)
    group.add_argument("--steps", type=positive_int, default=None, help=f"optimisation steps {shown('steps')}")
    group.add_argument("--batch-size", type=positive_int, default=None,
                       help=f"queries per step {shown('batch_size')}")
    group.add_argument("--lr", type=float_arg(0, 10, low_open=True), default=None,
                       help=f"peak learning rate of Adam {shown('lr_peak')}")
    group.add_argument("--lr-init", type=float_arg(0, 10), default=None,
                       help=f"learning rate at step 0 {shown('lr_init')}")
    group.add_argument("--lr-end", type=float_arg(0, 10), default=None,
                       help=f"learning rate at the last step, after the cosine decay {shown('lr_end')}")
    group.add_argument("--warmup-steps", type=int_arg(0, BIG), default=None,
                       help="linear warm-up steps " + shown("warmup_steps", plain="5%% of --steps"))
    group.add_argument("--grad-clip", type=float_arg(0, 1e6, low_open=True), default=None,
                       help=f"global gradient-norm clip {shown('grad_clip')}")
    group.add_argument("--ema-decay", type=float_arg(0, 1, high_open=True), default=None,
                       help=f"decay of the weight average that is saved {shown('ema_decay')}")
    group.add_argument("--score-weight", type=float_arg(0, 1e6), default=None,
                       help=f"weight of the score loss (official: 0.01) {shown('score_weight')}")
    group.add_argument("--key-weight", type=float_arg(0, 1e6), default=None,
                       help=f"weight of the key loss (official: 1) {shown('key_weight')}")
    group.add_argument("--checkpoint-every", type=int_arg(0, BIG), default=checkpoint_every,
                       help="write a resumable checkpoint every N steps (0: only at the end)")
    group.add_argument("--log-every", type=positive_int, default=TRAIN_DEFAULTS["log_every"],
                       help="log the loss every N steps")
    group.add_argument("--eval-every", type=int_arg(0, BIG), default=None,
                       help="evaluate on the validation split every N steps (default: 10 times per run; 0: at the end)")
    group.add_argument("--select", choices=SELECTIONS, default=None,
                       help="keep the weights with the best validation match rate (best_val), the best validation "
                            "IVF list coverage at one probe (best_val_coverage: for a model used as the IVF probe; "
                            f"needs --retrieval), or the last ones (last, official) {shown('select')}")
    group.add_argument("--patience", type=int_arg(0, BIG), default=None,
                       help="stop after this many validation evaluations without a better selection metric "
                            f"(0: train every step) {shown('patience')}")
    group.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="show a progress bar; --no-progress: no progress at all (default: a bar when stderr is a "
                            "terminal, else a log line with the ETA every 5 s)")
    group.add_argument("--restart", action="store_true",
                       help="discard a checkpoint left by an interrupted run and train from step 0 (without it, a "
                            "checkpoint from other inputs or settings is an error)")


def add_retrieval(parser: argparse.ArgumentParser) -> None:
    """The retrieval-aligned term's options (read by :func:`retrieval_term`)."""
    group = parser.add_argument_group("retrieval-aligned term (amips extension, off by default; "
                                      "amips.training.retrieval)")
    group.add_argument("--retrieval", choices=("none", *RETRIEVAL_TERMS), default=None,
                       help="add a term that trains the IVF coarse step of the predicted key on an IVF partition: "
                            "list_ce (softmax over the lists) or list_margin (hinge on the true list's margin); none: "
                            "off (default: the --preset's term, else none)")
    group.add_argument("--retrieval-weight", type=float_arg(0, 1e6, low_open=True), default=None,
                       help="its weight in the loss (default: the --preset's, else 1.0)")
    group.add_argument("--retrieval-temperature", type=float_arg(0, 1e6, low_open=True), default=None,
                       help="list_ce: softmax temperature τ (default: 0.05)")
    group.add_argument("--retrieval-margin", type=float_arg(0, 1e6, low_open=True), default=None,
                       help="list_margin: margin γ (default: 0.02)")
    group.add_argument("--ivf-index", default=None,
                       help="faiss IVF index over --keys whose lists the term trains on (default: one built with "
                            "⌊√m⌋ lists, seed 0, and saved as OUT.ivf)")


def term_options(args: argparse.Namespace, term: str, settings: dict[str, str], needs: str,
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


def retrieval_term(args: argparse.Namespace) -> dict[str, Any] | None:
    """The training.retrieval mapping of the fit command's options; None when off. ``--retrieval`` unset takes the
    preset's term (its settings overridden by the ``--retrieval-*`` options given), else none."""
    chosen = preset(_preset_name(args))["training"].get("retrieval")
    if args.retrieval is None and chosen is not None:
        settings = {"retrieval_weight": "weight", "retrieval_temperature": "temperature", "retrieval_margin": "margin"}
        if args.retrieval_margin is not None:
            raise UsageError(f"--retrieval-margin does not apply to the --preset's --retrieval {chosen['name']}")
        return {**chosen, **{field: getattr(args, option) for option, field in settings.items()
                             if getattr(args, option) is not None}}
    args.retrieval = args.retrieval or "none"
    cfg = term_options(args, "retrieval", {"retrieval_weight": "weight", "retrieval_temperature": "temperature",
                                           "retrieval_margin": "margin"}, "list_ce or list_margin", ("ivf_index",))
    if cfg is None:
        return None
    wrong = {"list_ce": "retrieval_margin", "list_margin": "retrieval_temperature"}[args.retrieval]
    if getattr(args, wrong) is not None:
        raise UsageError(f"--{wrong.replace('_', '-')} does not apply to --retrieval {args.retrieval}")
    return cfg


def add_routing(parser: argparse.ArgumentParser) -> None:
    """The routing term's options (read by :func:`routing_term`)."""
    group = parser.add_argument_group("routing term of a router (amips extension, off by default; "
                                      "amips.training.routing_terms; labels from `amips labels --num-clusters C`)")
    group.add_argument("--routing", choices=("none", *ROUTING_TERMS), default="none",
                       help="add a term that trains the order of the router's outputs: oracle_ce (softmax "
                            "cross-entropy against the cluster that holds the exact top-1)")
    group.add_argument("--routing-weight", type=float_arg(0, 1e6, low_open=True), default=None,
                       help="its weight in the loss (default: 1.0)")
    group.add_argument("--routing-temperature", type=float_arg(0, 1e6, low_open=True), default=None,
                       help="softmax temperature τ (default: 0.1)")


def routing_term(args: argparse.Namespace) -> dict[str, Any] | None:
    """The training.routing mapping of the train command's options; None when off."""
    return term_options(args, "routing", {"routing_weight": "weight", "routing_temperature": "temperature"},
                        "oracle_ce")


def add_overwrite(parser: argparse.ArgumentParser, what: str) -> None:
    """--overwrite: may ``what`` be replaced although amips did not write it."""
    parser.add_argument("--overwrite", action="store_true",
                        help=f"replace {what} that amips did not write (without it, only amips' own earlier output "
                             "is replaced)")


def add_allow_other_keys(parser: argparse.ArgumentParser) -> None:
    """--allow-other-keys: use a model with keys it was not trained on."""
    parser.add_argument("--allow-other-keys", action="store_true",
                        help="use a model with keys other than those it was trained on (a warning instead of an error)")


def add_noise(parser: argparse.ArgumentParser, default_preset: str | None = None) -> None:
    """--noise-copies and --noise-std (read by :func:`label_option`); the help shows ``default_preset``'s values."""
    shown = functools.partial(shown_default, "labels", default_preset=default_preset)
    group = parser.add_argument_group("labels")
    group.add_argument("--noise-copies", type=int_arg(0, 1000), default=None,
                       help=f"noisy copies of each query added for training {shown('noise_copies')}")
    group.add_argument("--noise-std", type=float_arg(0, 10), default=None,
                       help=f"std of the query noise, then renormalised {shown('noise_std')}")


# ---------------------------------------------------------------------------------------------------- readers


# CLI option → ModelSpec / TrainSpec field (an option left unset takes the preset's value, else the spec default)
MODEL_OPTIONS = {"parameters_fraction": "parameters_fraction", "width": "width", "depth": "depth",
                 "wx_inject": "wx_inject", "rectifier": "rectifier", "resnet": "resnet", "budget_rule": "budget_rule",
                 "activation_slope": "activation_slope", "activation_beta": "activation_beta",
                 "output_activation": "output_activation", "use_bias": "use_bias",
                 "principled_init": "principled_init", "init_bias_sign": "init_bias_sign"}
TRAINING_OPTIONS = {"steps": "steps", "batch_size": "batch_size", "lr": "lr_peak", "lr_init": "lr_init",
                    "lr_end": "lr_end", "warmup_steps": "warmup_steps", "grad_clip": "grad_clip",
                    "ema_decay": "ema_decay", "score_weight": "score_weight", "key_weight": "key_weight",
                    "select": "select", "patience": "patience"}


def _preset_name(args: argparse.Namespace) -> str | None:
    """The preset chosen (``--preset``, or the command's default); None for ``none`` or a command without one."""
    name = getattr(args, "preset", None)
    return None if name == "none" else name


def _resolved(args: argparse.Namespace, options: dict[str, str], section: str) -> dict[str, Any]:
    """The fields set on the command line, else by the preset; fields set by neither are left out."""
    chosen = preset_fields(_preset_name(args), section, args.model if section == "model" else None)
    chosen.update({field: getattr(args, dest) for dest, field in options.items() if getattr(args, dest) is not None})
    return {field: chosen[field] for field in options.values() if field in chosen}


def build_model_spec(args: argparse.Namespace) -> ModelSpec:
    """The ModelSpec of the model options, the preset and the ModelSpec defaults."""
    from amips.models.spec import ModelSpec

    fields = _resolved(args, MODEL_OPTIONS, "model")
    homogenization = args.homogenization or preset_fields(_preset_name(args), "homogenization",
                                                          args.model).get("homogenization")
    if homogenization is not None:
        fields["homogenization"] = homogenization
    return ModelSpec(kind=args.model, **fields)


def build_train_spec(args: argparse.Namespace) -> TrainSpec:
    """The TrainSpec of the training options, the preset and the command-line defaults (with the retrieval term of
    :func:`retrieval_term` for a command that has its options)."""
    from amips.training.train import TrainSpec

    given = {field: getattr(args, dest) for dest, field in {**TRAINING_OPTIONS, "eval_every": "eval_every"}.items()
             if getattr(args, dest) is not None}
    fields = {k: v for k, v in training_fields(_preset_name(args), given).items() if k != "retrieval"}
    with training_option_names():
        return TrainSpec(**fields, checkpoint_every=args.checkpoint_every, log_every=args.log_every,
                         retrieval=retrieval_term(args) if hasattr(args, "retrieval") else None)


# the TrainSpec field each training option sets, as the library's messages name it → the option a user typed
_FIELD_OPTIONS = {field: f"--{dest.replace('_', '-')}" for dest, field in
                  {**TRAINING_OPTIONS, "checkpoint_every": "checkpoint_every", "eval_every": "eval_every",
                   "log_every": "log_every"}.items()}
_FIELD_WORD = re.compile(r"(?<![\w.-])(" + "|".join(sorted(_FIELD_OPTIONS, key=len, reverse=True)) + r")(?![\w-])")


@contextlib.contextmanager
def training_option_names() -> Iterator[None]:
    """Re-raise a training-settings error that starts with a TrainSpec field (``batch_size=… exceeds``,
    ``warmup_steps must be in [0, steps]``) as a :class:`UsageError` naming the options instead
    (``--batch-size``, ``--warmup-steps``, ``--steps``)."""
    try:
        yield
    except ValueError as err:  # InputError is a ValueError
        message = str(err)
        if not _FIELD_WORD.match(message):
            raise
        raise UsageError(_FIELD_WORD.sub(lambda m: _FIELD_OPTIONS[m.group(1)], message)) from err


def label_option(args: argparse.Namespace, name: str) -> Any:
    """A labels setting: the command line, else the preset, else the config schema's default (``LABEL_DEFAULTS``)."""
    value = getattr(args, name, None)
    return value if value is not None else preset(_preset_name(args))["labels"].get(name, LABEL_DEFAULTS[name])


def chosen_device(args: argparse.Namespace) -> str:
    """The torch device of --device (auto resolved)."""
    from amips.exact.labels import resolve_device

    return resolve_device(args.device)


def show_progress(args: argparse.Namespace) -> str | bool:
    """How to show the progress of training (the ``progress`` argument of :func:`amips.training.train.train_model`):
    ``"bar"`` (tqdm) with --progress or when stderr is a terminal, ``"log"`` (a log line with the ETA every few
    seconds, :mod:`amips.core.progress`) otherwise, False (nothing) with --no-progress or --quiet."""
    if args.quiet or args.progress is False:
        return False
    return "bar" if args.progress or sys.stderr.isatty() else "log"
