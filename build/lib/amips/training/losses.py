"""The AMIPS training objective (same for SupportNet and KeyNet).

    L = w_s · mean_{b,c} (ŝ_bc − s_bc)²  +  w_t · mean_{b,c,j} (ĝ_bcj − t_bcj)²

ŝ, ĝ: predicted scores [B, C] and keys [B, C, d]; t = keys[target] [B, C, d], s = ⟨t, x⟩ [B, C].
For SupportNet ĝ = ∇_x f (differentiated through during training: second order); for KeyNet ĝ is the output.
Official weights: w_s = 0.01, w_t = 1.
"""

from __future__ import annotations

import torch


def targets_for(queries: torch.Tensor, keys: torch.Tensor, target_idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(target scores s [B, C], target keys t [B, C, d]) from queries [B, d], keys [m, d], indices [B, C]."""
    target_keys = keys[target_idx]
    return torch.einsum("bcd,bd->bc", target_keys, queries), target_keys


def all_target_scores(queries: torch.Tensor, keys: torch.Tensor, target_idx: torch.Tensor,
                      chunk: int = 1024) -> torch.Tensor:
    """Target scores s [N, C] = ⟨keys[target_idx], x⟩ of every training row, in row chunks (the gathered keys of
    one chunk, chunk × C × d, are the peak memory). A score-only objective (e.g. a router with C outputs) reads its
    targets from here once instead of gathering a [B, C, d] key batch at every step."""
    out = torch.empty(target_idx.shape, dtype=queries.dtype, device=queries.device)
    for start in range(0, queries.shape[0], chunk):
        rows = slice(start, start + chunk)
        out[rows] = targets_for(queries[rows], keys, target_idx[rows])[0]
    return out


def score_only_loss(pred_scores: torch.Tensor, target_scores: torch.Tensor,
                    score_weight: float) -> tuple[torch.Tensor, dict[str, float]]:
    """w_s · mean (ŝ − s)² for a model trained on its scores alone (key_weight 0); key_mse is NaN (not trained
    on, not computed)."""
    score_mse = (pred_scores - target_scores).pow(2).mean()
    return score_weight * score_mse, {"score_mse": float(score_mse.detach()), "key_mse": float("nan")}


def amips_loss(
    pred_scores: torch.Tensor,
    pred_keys: torch.Tensor,
    target_scores: torch.Tensor,
    target_keys: torch.Tensor,
    score_weight: float = 0.01,
    key_weight: float = 1.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted score MSE + key MSE; returns (loss, {"score_mse", "key_mse"})."""
    score_mse = (pred_scores - target_scores).pow(2).mean()
    key_mse = (pred_keys - target_keys).pow(2).mean()
    loss = score_weight * score_mse + key_weight * key_mse
    return loss, {"score_mse": float(score_mse.detach()), "key_mse": float(key_mse.detach())}
