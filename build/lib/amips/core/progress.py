"""Progress of long steps: a tqdm bar on a terminal, otherwise log lines at most every few seconds with an ETA.

A log line reads ``train: step 300/1200 (25%), 12.3 steps/s, ETA 1m13s`` or ``labels: 12288/30000 rows (41%),
410 rows/s, ETA 20s``; it goes through a logger at INFO, so ``--quiet`` (the ``amips`` logger at WARNING) silences
it, and a library caller sees it only if it configured logging. Lines are time-based (:data:`EVERY` seconds apart,
on :func:`time.monotonic`), so a step shorter than that logs nothing.

The ``progress`` argument of the long steps (:func:`resolve_mode`): ``"bar"``, ``"log"``, ``True`` (a bar on a
terminal, log lines otherwise) or ``False``/``None`` (nothing).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from typing import Callable

BAR, LOG = "bar", "log"
EVERY = 5.0  # seconds between two log lines

_log = logging.getLogger("amips.progress")


def default_mode() -> str:
    """``"bar"`` when stderr is a terminal (or in a Jupyter kernel, where tqdm draws a widget), else ``"log"``."""
    interactive = "ipykernel" in sys.modules
    try:
        interactive = interactive or sys.stderr.isatty()
    except (AttributeError, ValueError):  # no stderr, or a closed one
        pass
    return BAR if interactive else LOG


def resolve_mode(progress: bool | str | None) -> str | None:
    """The way to show progress that ``progress`` asks for: ``"bar"``, ``"log"`` or None (nothing)."""
    if progress is True:
        return default_mode()
    if not progress:
        return None
    if progress not in (BAR, LOG):
        raise ValueError(f"progress must be a bool, {BAR!r} or {LOG!r}, got {progress!r}")
    return progress


def format_duration(seconds: float) -> str:
    """``7s``, ``1m13s``, ``2h05m`` (whole seconds; ``?`` when unknown)."""
    if not math.isfinite(seconds):
        return "?"
    total = max(0, round(seconds))
    if total < 60:
        return f"{total}s"
    if total < 3600:
        return f"{total // 60}m{total % 60:02d}s"
    return f"{total // 3600}h{total % 3600 // 60:02d}m"


def format_rate(rate: float) -> str:
    """``12.3``, ``0.0421``, ``410``, ``12345`` (three significant digits below 1000)."""
    return f"{rate:.0f}" if rate >= 1000 else f"{rate:.3g}"


class ProgressLog:
    """Counts work done towards ``total`` and logs a progress line at most every ``every`` seconds.

    ``update(n)`` adds ``n`` units (cheap: one clock read); the first line comes once ``every`` seconds have passed
    since the start. A line at the total, or from ``close()`` (or leaving the ``with`` block, which logs the count
    reached if a line was logged before and the count moved since), ends with the elapsed time instead of the ETA.
    The rate and ETA count only the work done since the start (``initial``: units already done, e.g. the steps of a
    resumed run). ``item``, when given, names one unit before the count (``step 300/1200``); ``unit`` follows it
    otherwise (``12288/30000 rows``) and always names the rate (``steps/s``).
    """

    def __init__(self, total: int, desc: str, unit: str, *, item: str | None = None, initial: int = 0,
                 every: float = EVERY, logger: logging.Logger | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.desc, self.unit, self.item = int(total), desc, unit, item
        self.done = self._initial = int(initial)
        self.every = every
        self.logger = logger or _log
        self._clock = clock
        self._start = self._last = clock()
        self._logged_at: int | None = None  # the count of the last line logged
        self.lines = 0

    def update(self, n: int = 1) -> None:
        """Add ``n`` units of work; log a line if ``every`` seconds passed since the last one (or the start)."""
        self.done += n
        now = self._clock()
        if now - self._last >= self.every:
            self._emit(now, final=self.done >= self.total)

    def close(self) -> None:
        """Log the final count and the elapsed time, if a line was logged before and the count moved since."""
        if self.lines and self._logged_at != self.done:
            self._emit(self._clock(), final=True)

    def __enter__(self) -> ProgressLog:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()

    def line(self, now: float, final: bool = False) -> str:
        """The progress line at clock time ``now``."""
        elapsed = max(now - self._start, 1e-9)
        rate = (self.done - self._initial) / elapsed
        pct = 100 if self.total <= 0 else min(100, math.floor(100 * self.done / self.total))
        count = f"{self.item} {self.done}/{self.total}" if self.item else f"{self.done}/{self.total} {self.unit}"
        left = f"done in {format_duration(elapsed)}" if final else \
            f"ETA {format_duration(max(self.total - self.done, 0) / rate if rate > 0 else math.inf)}"
        return f"{self.desc}: {count} ({pct}%), {format_rate(rate)} {self.unit}/s, {left}"

    def _emit(self, now: float, final: bool = False) -> None:
        self.logger.info("%s", self.line(now, final))
        self._last, self._logged_at = now, self.done
        self.lines += 1
