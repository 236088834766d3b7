"""The benchmark suite's --quick mode runs end to end and writes a complete, finite CSV and a plot."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COLUMNS = ["benchmark", "case", "metric", "value", "baseline", "ratio", "target", "met"]
EXPECTED = {
    ("machine", "gflops"), ("machine", "implied_clock_ghz"),
    ("labels", "queries_per_s"), ("labels", "gflops"), ("labels", "faiss_gflops"),
    ("labels", "top1_agreement_with_faiss"),
    ("memory", "peak_rss_gib"), ("memory", "peak_anon_gib"), ("memory", "full_job_wall_s_est"),
    ("inference", "queries_per_s"),
    ("training", "steps_per_s"), ("training", "samples_per_s"), ("training", "phase_share_backward"),
    ("training", "profile_share_matmul"),
    ("pipeline", "wall_s"),
}


@pytest.mark.timeout(180)
def test_quick_benchmarks_write_expected_rows(tmp_path):
    pytest.importorskip("faiss")
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick", "--out", str(out),
                           "--tmpdir", str(tmp_path)], capture_output=True, text=True, cwd=REPO, timeout=170)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with (out / "benchmarks.csv").open() as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames[: len(COLUMNS)] == COLUMNS
        rows = list(reader)
    assert EXPECTED <= {(r["benchmark"], r["metric"]) for r in rows}
    inference = [r for r in rows if r["benchmark"] == "inference"]
    assert {r["case"].split(",")[0] for r in inference} == {"keynet", "supportnet"}
    assert len(inference) == 4 and sum(r["target"] != "" for r in inference) == 2  # targets at batch 1024
    for r in rows:
        if r["met"] in ("skipped", "not run"):
            continue
        if r["baseline"] != "":  # every comparison has a finite, positive ratio
            assert math.isfinite(float(r["ratio"])) and float(r["ratio"]) > 0, r
        assert r["value"] == "" or math.isfinite(float(r["value"])), r
        if r["target"] != "":
            assert r["met"] == ("yes" if float(r["ratio"]) >= float(r["target"]) else "no"), r
    labels = {r["metric"]: r for r in rows if r["benchmark"] == "labels"}
    assert float(labels["top1_agreement_with_faiss"]["value"]) > 0.99
    memory = {r["metric"]: r for r in rows if r["benchmark"] == "memory"}
    assert memory["peak_rss_gib"]["met"] in ("yes", "skipped")
    assert (out / "benchmarks.png").stat().st_size > 1000
    assert (out / "machine.json").exists()
    assert not list(tmp_path.glob("amips-bench-mem-*")), "memory benchmark left its temporary files behind"


def test_unknown_benchmark_is_rejected():
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--only", "labels,nope"],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode != 0 and "nope" in proc.stderr


def _peak_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("amips_bench_peak", REPO / "benchmarks" / "peak.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "variant,one_core,expected",
    [
        ("avx512 512-bit", {"avx2-fma 256-bit": 120.0, "avx512 512-bit": 236.0}, 64),  # Intel, two 512-bit FMAs
        ("avx512 512-bit", {"avx2-fma 256-bit": 115.0, "avx512 512-bit": 116.0}, 32),  # Zen 4: split 512-bit
        ("avx2-fma 256-bit", {"avx2-fma 256-bit": 115.0, "avx512 512-bit": 109.0}, 32),
        ("avx2-fma 256-bit", {"avx2-fma 256-bit": 100.0}, 32),
    ],
)
def test_flop_per_cycle_follows_the_measured_fma_width(variant, one_core, expected):
    """An AVX-512 Intel core at 3.8 GHz does 64 FLOP/cycle: dividing by 32 implied a 7.6 GHz clock."""
    assert _peak_module().measured_flop_per_cycle(variant, one_core) == expected


@pytest.mark.timeout(120)
def test_quick_startup_benchmark_writes_its_rows(tmp_path):
    """benchmarks/bench_startup.py (run on its own, not by run.py): the first line and the argument error of `amips
    fit` against `python -c "import torch"`; it fails if the command prints no first line or not the one-line error."""
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_startup.py"), "--quick", "--reps", "1",
                           "--out", str(tmp_path)], capture_output=True, text=True, cwd=REPO, timeout=110)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with (tmp_path / "startup.csv").open() as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames[: len(COLUMNS)] == COLUMNS
        rows = list(reader)
    assert {r["metric"] for r in rows} == {"wall_s", "first_line_s", "argument_error_s"}
    for r in rows:
        assert r["benchmark"] == "startup" and math.isfinite(float(r["value"])) and float(r["value"]) > 0, r
        if r["baseline"] != "":
            assert r["baseline_name"] == 'python -c "import torch"' and float(r["ratio"]) > 0, r
    first = next(r for r in rows if r["metric"] == "first_line_s")
    assert "amips: fit: keys" in first["notes"] and "loading torch" in first["notes"]
