"""Diagnostics of the z-path of a SupportNet over training: why convex (softplus/relu) runs start badly.

With the principled init the z-path weights are log-normal with expected row sum n·m ≈ 1.85 (every fan-in), and
the official bias is +β ≈ +0.73, so on a positive mean activation each hidden layer multiplies the mean by ≈ 1.85
and adds β: at depth 8 the initial key |∇f| is 40–120 while the targets have norm 1. The identity rectifier
leaves this in ~15 steps by flipping weight signs; a softplus rectifier sees raw-kernel gradients damped by
σ(V) ≈ W for the many tiny weights (Adam then moves W multiplicatively), and relu zeroes every weight pushed below
0 for good. :func:`trace_training` records the quantities that show it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from amips.models import ModelSpec, build_model
from amips.models.networks import SupportNet

DAMPED = 1e-2  # a raw weight whose rectifier derivative is below this barely moves (relu: exactly 0)


@torch.no_grad()
def zpath_stats(model: SupportNet) -> dict[str, float]:
    """Mean row sum of the effective hidden z-path weights ρ(V) (the gain on a positive mean), the fraction of raw
    weights with dρ/dV < :data:`DAMPED` (softplus: σ(V); relu: V ≤ 0; identity: none) and of negative ρ(V)."""
    net = model.net
    hidden = range(net.depth - 1) if net.depth > 1 else range(net.depth)
    row_sums, damped, negative, total = [], 0, 0, 0
    for layer in range(net.depth):
        raw, eff = net.z_weights[layer], net.effective_weight(layer)
        if layer in hidden:
            row_sums.append(float(eff.sum(dim=1).mean()))
        if net.rectifier == "softplus":
            damped += int((torch.sigmoid(raw) < DAMPED).sum())
        elif net.rectifier == "relu":
            damped += int((raw <= 0).sum())
        negative += int((eff < 0).sum())
        total += raw.numel()
    return {"row_sum": float(np.mean(row_sums)), "damped_fraction": damped / total, "negative_fraction": negative / total}


def key_norm(model: SupportNet, probe: torch.Tensor) -> float:
    """Mean ‖∇f(x)‖ over probe queries [n, d]."""
    return float(model.predict(probe)[1].norm(dim=-1).mean())


def trace_training(keys: np.ndarray, queries: np.ndarray, targets: np.ndarray, spec: ModelSpec,
                   train_cfg: dict[str, Any], seed: int, every: int, label: str, stop_after: int) -> pd.DataFrame:
    """Train one SupportNet on queries [N, d] → top-1 targets [N, 1] over keys [m, d] on its full schedule, stopped
    after ``stop_after`` steps, and return every ``every`` steps (and at step 0) the training loss and pre-clipping
    gradient norm of that step, the live model's ‖∇f‖ on 512 training queries and its :func:`zpath_stats`."""
    from amips.training.train import TrainData, TrainSpec, train_model

    model = build_model(spec, keys.shape[1], keys.shape[0], seed=seed)
    probe = torch.from_numpy(np.ascontiguousarray(queries[:512]))
    live: dict[str, SupportNet] = {"model": model}
    rows = [{"step": 0, "key_norm": key_norm(model, probe), **zpath_stats(model)}]

    def record(_ema) -> dict[str, float]:  # eval_fn sees the EMA copy; the live weights are what the optimiser moves
        return {"key_norm": key_norm(live["model"], probe), **zpath_stats(live["model"])}

    tspec = TrainSpec.from_dict({**train_cfg, "log_every": every, "eval_every": every, "checkpoint_every": 0,
                                 "select": "last"})  # a trace of the schedule, not a selected model
    data = TrainData(torch.from_numpy(queries), torch.from_numpy(targets), torch.from_numpy(keys))
    result = train_model(model, data, tspec, seed=seed, eval_fn=record, stop_after=stop_after)
    for h in result.history:
        rows.append({"step": h["step"], "loss": h["loss"], "grad_norm": h["grad_norm"],
                     **{k[len("eval_"):]: v for k, v in h.items() if k.startswith("eval_")}})
    frame = pd.DataFrame(rows)
    frame.insert(0, "model", label)
    frame.insert(1, "rectifier", spec.rectifier)
    return frame
