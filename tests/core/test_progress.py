"""amips.core.progress: progress lines with a rate and an ETA, at most every few seconds; where the long steps use
them (training off a terminal, exact labels) and how the command line chooses between a bar, lines and nothing."""

from __future__ import annotations

import argparse
import logging
import sys
import types

import numpy as np
import pytest

from amips.cli.options import show_progress
from amips.core import progress as pg
from amips.core.progress import ProgressLog, format_duration, resolve_mode


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def lines(caplog) -> list[str]:
    caplog.set_level(logging.INFO, logger="amips")
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = Keep()
    logging.getLogger("amips").addHandler(handler)
    yield records
    logging.getLogger("amips").removeHandler(handler)


def test_line_format_rate_and_eta(lines):
    clock = FakeClock()
    bar = ProgressLog(1200, "train", "steps", item="step", clock=clock)
    clock.now += 24.4
    bar.update(300)  # 300 steps in 24.4 s: 12.3 steps/s, 900 left: 73 s
    assert lines == ["train: step 300/1200 (25%), 12.3 steps/s, ETA 1m13s"]
    clock = FakeClock()
    rows = ProgressLog(30000, "labels", "rows", clock=clock)
    clock.now += 30
    rows.update(12288)
    assert lines[-1] == "labels: 12288/30000 rows (40%), 410 rows/s, ETA 43s"


def test_lines_are_rate_limited_by_the_clock(lines):
    clock = FakeClock()
    bar = ProgressLog(1000, "train", "steps", item="step", clock=clock, every=5.0)
    for _ in range(100):  # 100 steps of 0.25 s: 25 s, a line every 5 s (20 steps)
        clock.now += 0.25
        bar.update()
    assert [line.split(",")[0] for line in lines] == [f"train: step {s}/1000 ({s // 10}%)"
                                                      for s in (20, 40, 60, 80, 100)]
    assert [line.split(", ", 1)[1] for line in lines] == [f"4 steps/s, ETA {eta}" for eta in
                                                          ("4m05s", "4m00s", "3m55s", "3m50s", "3m45s")]


def test_a_short_step_logs_nothing(lines):
    clock = FakeClock()
    with ProgressLog(50, "labels", "rows", clock=clock) as bar:
        for _ in range(50):
            clock.now += 0.01
            bar.update()
    assert lines == []


def test_the_last_line_gives_the_elapsed_time(lines):
    clock = FakeClock()
    with ProgressLog(100, "labels", "rows", clock=clock) as bar:
        clock.now += 6
        bar.update(40)
        clock.now += 4
        bar.update(60)  # 4 s after the first line: not logged by update, but by close
    assert lines == ["labels: 40/100 rows (40%), 6.67 rows/s, ETA 9s", "labels: 100/100 rows (100%), 10 rows/s, "
                                                                        "done in 10s"]
    clock = FakeClock()
    bar = ProgressLog(10, "labels", "rows", clock=clock)
    clock.now += 5
    bar.update(10)  # reaching the total on a logged update: the elapsed time, and no second line at close
    bar.close()
    assert lines[-1] == "labels: 10/10 rows (100%), 2 rows/s, done in 5s" and len(lines) == 3


def test_a_resumed_run_counts_only_its_own_work(lines):
    clock = FakeClock()
    bar = ProgressLog(1000, "train", "steps", item="step", initial=600, clock=clock)
    clock.now += 10
    bar.update(100)  # 100 steps in 10 s (not 700), 300 left
    assert lines == ["train: step 700/1000 (70%), 10 steps/s, ETA 30s"]


@pytest.mark.parametrize("seconds,text", [(0, "0s"), (7.4, "7s"), (59.6, "1m00s"), (73, "1m13s"), (3599, "59m59s"),
                                          (7500, "2h05m"), (float("inf"), "?")])
def test_durations(seconds, text):
    assert format_duration(seconds) == text


def test_no_rate_yet_means_no_eta(lines):
    clock = FakeClock()
    bar = ProgressLog(10, "labels", "rows", clock=clock)
    clock.now += 6
    bar.update(0)
    assert lines == ["labels: 0/10 rows (0%), 0 rows/s, ETA ?"]


def test_modes(monkeypatch):
    monkeypatch.setattr(pg, "default_mode", lambda: "log")
    assert [resolve_mode(p) for p in (True, False, None, "bar", "log")] == ["log", None, None, "bar", "log"]
    with pytest.raises(ValueError, match="progress must be"):
        resolve_mode("sometimes")


@pytest.mark.parametrize("quiet,flag,tty,expected", [
    (False, None, True, "bar"), (False, None, False, "log"), (False, True, False, "bar"), (False, False, True, False),
    (True, None, True, False), (True, True, True, False),
])
def test_the_command_line_chooses_a_bar_lines_or_nothing(monkeypatch, quiet, flag, tty, expected):
    monkeypatch.setattr(sys, "stderr", types.SimpleNamespace(isatty=lambda: tty))
    assert show_progress(argparse.Namespace(quiet=quiet, progress=flag)) == expected


class EagerProgressLog(ProgressLog):
    """A ProgressLog that logs on every update."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **{**kwargs, "every": 0.0})


def _every_update(monkeypatch, module: str) -> None:
    """Make ``module``'s ProgressLog log on every update."""
    monkeypatch.setattr(f"{module}.ProgressLog", EagerProgressLog)


def test_exact_labels_report_their_query_chunks():
    from amips.exact.labels import exact_topk, per_cluster_top1

    rng = np.random.default_rng(0)
    keys, queries = rng.standard_normal((50, 4)), rng.standard_normal((23, 4))
    for backend in ("numpy", "torch"):
        done: list[int] = []
        exact_topk(queries, keys, 1, query_chunk=5, backend=backend, progress=done.append)
        assert done == [5, 5, 5, 5, 3], backend
    done = []
    per_cluster_top1(queries, keys, np.arange(50) % 2, 2, query_chunk=10, backend="numpy", progress=done.append)
    assert done == [10, 10, 3] * 2


def test_labelling_logs_its_progress(monkeypatch, lines):
    from amips.exact.labelling import label_queries

    _every_update(monkeypatch, "amips.exact.labelling")
    rng = np.random.default_rng(0)
    keys, queries = rng.standard_normal((40, 4)).astype(np.float32), rng.standard_normal((10, 4)).astype(np.float32)
    label_queries(keys, queries, {"noise_copies": 1, "query_chunk": 8})
    assert [line.split(" (")[0] for line in lines] == ["labels: 8/20 rows", "labels: 16/20 rows", "labels: 20/20 rows"]
    assert "ETA" in lines[0] and "(100%)" in lines[-1] and "done in" in lines[-1]


def test_training_logs_progress_lines_instead_of_a_bar(monkeypatch, lines):
    import torch

    from amips.models import ModelSpec, build_model
    from amips.training.train import TrainData, TrainSpec, train_model

    _every_update(monkeypatch, "amips.training.train")
    rng = np.random.default_rng(0)
    keys = torch.from_numpy(rng.standard_normal((30, 4)).astype(np.float32))
    queries = torch.from_numpy(rng.standard_normal((16, 4)).astype(np.float32))
    targets = (queries @ keys.T).argmax(1, keepdim=True)
    train_model(build_model(ModelSpec(kind="keynet", depth=1, width=8), 4, 30), TrainData(queries, targets, keys),
                TrainSpec(steps=3, batch_size=8, lr_peak=1e-3, select="last", log_every=100), progress="log")
    progress = [line for line in lines if line.startswith("train: ")]
    assert [line.split(",")[0] for line in progress] == ["train: step 1/3 (33%)", "train: step 2/3 (66%)",
                                                         "train: step 3/3 (100%)"]
    assert "ETA" in progress[0] and "done in" in progress[-1]
