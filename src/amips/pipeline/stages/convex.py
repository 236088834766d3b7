"""The convex-diagnostics stage (rule convex_diagnostics, workflow/rules/convex.smk): the early-training traces of
:func:`amips.training.convex.trace_training` for some SupportNet entries on a labels folder, as one CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from amips.core.schema import section
from amips.models import ModelSpec
from amips.training.convex import trace_training


def convex_diagnostics(keys_path: str | Path, labels_dir: str | Path, out_csv: str | Path,
                       models: dict[str, dict[str, Any]], train_cfg: dict[str, Any], cfg: dict[str, Any]) -> pd.DataFrame:
    """Traces of :func:`trace_training` for each named model entry (ModelSpec fields; ``training`` overrides) on a
    labels dir; ``cfg``: steps (traced prefix of the schedule), every, seed. Written to ``out_csv``."""
    from amips.data.folders import open_labels
    from amips.data.io import load_embeddings
    from amips.reporting.tables import write_csv

    keys = load_embeddings(keys_path, "keys")
    queries, targets = open_labels(labels_dir, keys, keys_path).split("train")
    frames = []
    cfg = section("experiments.convex_diagnostics", cfg, validate=False)
    for name, entry in models.items():
        entry = section("models.*", entry, validate=False)
        fields = {k: v for k, v in entry.items() if k != "training"}
        train = {**train_cfg, **entry["training"]}
        frames.append(trace_training(keys, queries, targets, ModelSpec.from_dict(fields), train,
                                     int(cfg["seed"]), int(cfg["every"]), name, stop_after=int(cfg["steps"])))
    frame = pd.concat(frames, ignore_index=True)
    write_csv(frame, out_csv)
    return frame
