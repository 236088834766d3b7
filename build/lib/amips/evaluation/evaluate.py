"""Batched inference and metric computation for a trained model."""

from __future__ import annotations

import time

import numpy as np
import torch

from amips.evaluation.metrics import evaluate_predictions
from amips.models.networks import AmipsModel


def predict(model: AmipsModel, queries: np.ndarray, batch_size: int = 1024, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Model scores [n, C] and keys [n, C, d] for queries [n, d] (float32 numpy)."""
    model.eval().to(device)
    scores, keys = [], []
    for start in range(0, queries.shape[0], batch_size):
        x = torch.from_numpy(np.ascontiguousarray(queries[start : start + batch_size], np.float32)).to(device)
        with torch.no_grad():
            s, k = model.predict(x, create_graph=False)
        scores.append(s.detach().cpu().numpy())
        keys.append(k.detach().cpu().numpy())
    return np.concatenate(scores), np.concatenate(keys)


def evaluate_model(model: AmipsModel, keys: np.ndarray, queries: np.ndarray, target_idx: np.ndarray,
                   batch_size: int = 1024, device: str = "cpu", rank_ties: str = "index",
                   recall_at_1pct: str = "ceil") -> dict[str, float]:
    """Metrics of ``model`` on queries [n, d] with per-cluster targets [n, C] over keys [m, d] (conventions: see
    :func:`amips.evaluation.metrics.evaluate_predictions`)."""
    pred_scores, pred_keys = predict(model, queries, batch_size, device)
    return evaluate_predictions(queries, keys, pred_scores, pred_keys, target_idx, rank_ties, recall_at_1pct)


def model_seconds_per_query(model, queries: np.ndarray, batch_size: int, with_key: bool, device: str) -> float:
    """Measured wall-clock per query of the model's forward (+ gradient for SupportNet keys), batched."""
    predict(model, queries[: min(len(queries), batch_size)], batch_size, device)  # warm-up
    t0 = time.perf_counter()
    if with_key:
        predict(model, queries, batch_size, device)
    else:
        with torch.no_grad():
            for start in range(0, len(queries), batch_size):
                model(torch.from_numpy(np.ascontiguousarray(queries[start : start + batch_size])).to(device))
    return (time.perf_counter() - t0) / len(queries)
