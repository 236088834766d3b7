"""Exact labels and metric ranks are bit-identical under every OpenBLAS kernel this CPU can run (subprocesses).

numpy's OpenBLAS picks a GEMM kernel per CPU; ``OPENBLAS_CORETYPE`` makes it use another CPU's kernel, so one
machine can stand in for others (Haswell/Zen: AVX2 machines without AVX-512, such as AMD EPYC). Each kernel runs
tests/kernel_probe.py in a fresh process; every digest must equal the others' and the in-process brute-force
definition's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
import kernel_probe  # noqa: E402

from amips.exact.order import exact_scores  # noqa: E402


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.split(":", 1)[-1].split())


def kernels() -> list[str]:
    """The OpenBLAS core types to try: SSE3 to AVX2 on any x86-64, the AVX-512 ones where the CPU has AVX-512."""
    names = ["Prescott", "Sandybridge", "Haswell", "Zen"]
    flags = _cpu_flags()
    if "avx512f" in flags:
        names.append("SkylakeX")
    if "avx512_bf16" in flags:
        names.append("Cooperlake")
    return names


@lru_cache(maxsize=None)
def probe(coretype: str, threads: int = 2) -> dict:
    env = {**os.environ, "OPENBLAS_CORETYPE": coretype, "OMP_NUM_THREADS": str(threads),
           "OPENBLAS_NUM_THREADS": str(threads)}
    env.pop("AMIPS_LABEL_BACKEND", None)
    proc = subprocess.run([sys.executable, str(Path(__file__).parents[1] / "kernel_probe.py")], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_kernels_really_differ():
    """The probes ran on different kernels, and on this data a plain float32 GEMM argmax (the old labels) does
    depend on the kernel (Prescott/Sandybridge vs Haswell/Zen); else the test below would prove nothing."""
    architectures = {tuple(sorted(p["architecture"] for p in probe(c)["blas"])) for c in kernels()}
    assert len(architectures) >= 3, architectures
    float32_labels = {json.dumps(probe(c)["float32_top1"], sort_keys=True) for c in kernels()}
    assert len(float32_labels) >= 2


@pytest.mark.parametrize("coretype", kernels())
def test_labels_and_ranks_are_bit_identical_across_kernels(coretype):
    reference = probe("Prescott")["results"]
    assert probe(coretype)["results"] == reference


def test_labels_and_ranks_do_not_depend_on_the_thread_count():
    """One BLAS/OpenMP thread splits the GEMMs differently from two; the exact order does not notice."""
    assert probe("Haswell", threads=1)["results"] == probe("Haswell")["results"]


def test_probe_results_equal_the_brute_force_definition():
    """Digests of the definition itself: exact scores of every pair, score descending, lower index first."""
    got = probe("Haswell")["results"]
    for name, (queries, keys) in kernel_probe.problems().items():
        n, m = len(queries), len(keys)
        scores = exact_scores(queries, keys, np.repeat(np.arange(n), m), np.tile(np.arange(m), n)).reshape(n, m)
        order = np.lexsort((np.broadcast_to(np.arange(m), scores.shape), -scores), axis=1)
        for k in (1, 10):
            want = kernel_probe.digest(np.take_along_axis(scores, order[:, :k], 1), order[:, :k])
            assert got[f"{name}/numpy/k{k}/chunk700"] == want, (name, k)
