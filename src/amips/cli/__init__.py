"""The ``amips`` command line: the parser, assembled from one module per command, and the entry point ``main``."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import traceback
from typing import Iterator, NoReturn, Protocol, Sequence

from amips.cli import (check_config, dataset, evaluate, fit, generate, labels, predict, preflight, search, text,
                       train)
from amips.cli.choices import SYNTHETIC_SOURCES
from amips.cli.options import Formatter, UsageError, add_common
from amips.cli.options import build_model_spec as _model_spec  # noqa: F401 - imported by tests/training/test_presets.py
from amips.cli.options import build_train_spec as _train_spec  # noqa: F401 - imported by tests/training/test_presets.py

__all__ = ["COMMANDS", "SYNTHETIC_SOURCES", "UsageError", "build_parser", "main"]

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130

README_HINT = "See docs/user-guide.md for a walk-through (README.md: the example in ten lines)."


class Command(Protocol):
    """What a command module provides: every subcommand is a module of this package, a thin layer over library
    functions (:mod:`amips.pipeline.stages`, :mod:`amips.fit`, :mod:`amips.search`, …) that imports torch only in
    ``run``, so that ``amips --help`` stays fast and :mod:`amips.cli.preflight` checks the files its options name
    (by destination: ``keys``, ``queries``, ``data``, ``model``, ``out``, …) before ``run``; the option groups several
    commands share are in :mod:`amips.cli.options`, the choices shown without importing torch in
    :mod:`amips.cli.choices`."""

    NAME: str  # the subcommand, as typed
    HELP: str  # its line in ``amips --help``
    DESCRIPTION: str  # the top of ``amips NAME --help``

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> None: ...


COMMANDS: tuple[Command, ...] = (generate, dataset, text, labels, train, evaluate, fit, search, predict, check_config)


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (raised as :class:`UsageError`, printed by :func:`main`)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    """The ``amips`` parser with one sub-parser per command of :data:`COMMANDS` (each sets ``handler``)."""
    parser = _Parser(prog="amips", formatter_class=Formatter,
                     description="Amortized maximum inner product search with learned support functions.",
                     epilog=README_HINT)
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for command in COMMANDS:
        sub = subparsers.add_parser(command.NAME, help=command.HELP, description=command.DESCRIPTION,
                                    formatter_class=Formatter)
        add_common(sub)
        command.add_arguments(sub)
        sub.set_defaults(handler=command.run, preflight=preflight.plan(command.NAME, sub),
                         check_arguments=getattr(command, "check_arguments", None))
    return parser


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
    """Run the ``amips`` command line; returns the exit code (0 ok, 2 error, 130 interrupted).

    The files the options name are checked first, from their headers, before torch is imported
    (:mod:`amips.cli.preflight`). Unusable input (``InputError``/``ValueError``), unwritable output (``OSError``,
    ``OutputError``) and command-line mistakes (:class:`UsageError`) are reported as one line ``amips: error: …`` on
    stderr with exit code 2;
    ``--debug`` or ``AMIPS_DEBUG=1`` prints the traceback as well.
    """
    debug = os.environ.get("AMIPS_DEBUG", "") not in ("", "0")
    try:
        args = build_parser().parse_args(argv)
        debug = debug or args.debug
        with _log_to_stderr(args.quiet):
            if args.check_arguments is not None:
                args.check_arguments(args)  # option errors: no file read, no torch
            preflight.run(args)  # the files, before the handler imports torch; the first line
            args.handler(args)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except (UsageError, ValueError, OSError) as exc:  # InputError is a ValueError, OutputError an OSError
        return _fail(exc, debug)
    except KeyboardInterrupt:
        print("amips: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
