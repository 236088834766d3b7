"""Results you can trust, in the pipeline's training stage: a diverged run fails its job, a stale or corrupt checkpoint
is discarded and the run retrains (from the cross-cutting test_trust.py)."""

from __future__ import annotations

import pytest
import torch

from amips.models import ModelSpec
from amips.pipeline.stages.labels import make_labels
from amips.pipeline.stages.train import train_run
from amips.training.train import TrainingDiverged, TrainSpec
from clitools import interrupt_after, make_data



def _diverging_schedule(monkeypatch):
    monkeypatch.setattr(TrainSpec, "lr_at", lambda self, step: 1e30)


def test_diverged_pipeline_training_fails_the_job(tmp_path, monkeypatch):
    data = make_data(tmp_path / "data")
    make_labels(data, tmp_path / "labels", {"noise_copies": 1, "test_size": 0.25})
    _diverging_schedule(monkeypatch)
    with pytest.raises(TrainingDiverged):
        train_run(data / "keys.npy", tmp_path / "labels", tmp_path / "run", ModelSpec(kind="keynet", depth=2, width=8),
                  TrainSpec(steps=20, batch_size=32, lr_peak=1e-3), seed=0)
    assert not (tmp_path / "run" / "model.pt").exists()


def test_pipeline_discards_a_stale_checkpoint_and_retrains(tmp_path, monkeypatch, caplog):
    data = make_data(tmp_path / "data")
    labels = tmp_path / "labels"
    make_labels(data, labels, {"noise_copies": 1, "test_size": 0.25, "seed": 0})
    spec, tspec = ModelSpec(kind="keynet", depth=2, width=8), TrainSpec(steps=20, batch_size=32, lr_peak=1e-3,
                                                                        checkpoint_every=5)
    with monkeypatch.context() as patch:
        interrupt_after(patch, 10)
        with pytest.raises(KeyboardInterrupt):
            train_run(data / "keys.npy", labels, tmp_path / "run", spec, tspec, seed=0)
    make_labels(data, labels, {"noise_copies": 1, "test_size": 0.25, "seed": 1})  # the labels changed
    with caplog.at_level("WARNING", logger="amips.training.train"):
        info = train_run(data / "keys.npy", labels, tmp_path / "run", spec, tspec, seed=0)
    assert info["resumed_from_step"] == 0 and "discarding" in caplog.text and "labels.seed differs" in caplog.text
    reference = train_run(data / "keys.npy", labels, tmp_path / "fresh", spec, tspec, seed=0)
    fresh, rerun = (torch.load(tmp_path / d / "model.pt", weights_only=True)["state_dict"] for d in ("fresh", "run"))
    assert reference["resumed_from_step"] == 0 and all(torch.equal(fresh[k], rerun[k]) for k in fresh)


def test_pipeline_survives_a_corrupt_checkpoint(tmp_path):
    data = make_data(tmp_path / "data")
    make_labels(data, tmp_path / "labels", {"noise_copies": 1, "test_size": 0.25})
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"PK\x03\x04 half a zip")
    info = train_run(data / "keys.npy", tmp_path / "labels", tmp_path / "run", ModelSpec(kind="keynet", depth=2, width=8),
                     TrainSpec(steps=10, batch_size=32, lr_peak=1e-3), seed=0)
    assert info["resumed_from_step"] == 0 and (tmp_path / "run" / "model.pt").exists()
