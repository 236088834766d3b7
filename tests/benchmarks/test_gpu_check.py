"""benchmarks/gpu_check.py: its dry mode (CPU, tiny sizes) runs every check and writes the report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SCRIPT = str(REPO / "benchmarks" / "gpu_check.py")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_dry_gpu_check_runs_every_check_on_the_cpu(tmp_path):
    proc = subprocess.run([sys.executable, SCRIPT, "--dry", "--out", str(tmp_path)], capture_output=True, text=True,
                          cwd=REPO, timeout=290)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["dry"] is True and report["device"] == "cpu" and report["ok"] is True
    cases = report["labels"]["cases"]
    assert {c["what"].split()[0] for c in cases} == {"exact_topk", "per_cluster_top1"}
    assert {c["cpu_engine"] for c in cases} == {"numpy", "faiss"}
    assert all(c["rows_differing"] == 0 for c in cases)  # the exact order: bit-identical on every device
    models = report["training"]["models"]
    assert set(models) == {"supportnet", "keynet", "keynet_resnet"}
    for m in models.values():  # CPU training is deterministic: the two runs agree bit for bit
        assert m["identical"] and m["max_abs_weight_diff"] == 0.0 and m["run1"]["steps_per_s"] > 0
    assert [c["k"] for c in report["label_speed"]["cases"]] == [1, 10]
    assert all(c["queries_per_s"] > 0 for c in report["label_speed"]["cases"])
    assert "DRY RUN" in (tmp_path / "gpu_check.md").read_text()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_gpu_check_without_cuda_says_so_and_exits_2(tmp_path):
    proc = subprocess.run([sys.executable, SCRIPT, "--out", str(tmp_path)], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 2 and "CUDA is not available" in proc.stderr
    assert not (tmp_path / "gpu_check.json").exists()
