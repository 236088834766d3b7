"""Activation functions used by SupportNet and KeyNet."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def soft_leaky_relu(x: torch.Tensor, slope: float = 0.1, beta: float = 20.0) -> torch.Tensor:
    """σ(x) = a·x + (1 − a)·softplus(βx)/β.

    Convex and strictly increasing with derivative in (a, 1); tends to leaky-ReLU(a) as β → ∞.
    The official configs use a = 0.1, β = 20.
    """
    return slope * x + (1.0 - slope) * F.softplus(x, beta=beta)


class SoftLeakyReLU(nn.Module):
    """Module wrapper of :func:`soft_leaky_relu` (convex, nondecreasing: valid for ICNNs)."""

    def __init__(self, slope: float = 0.1, beta: float = 20.0) -> None:
        super().__init__()
        if not 0.0 <= slope < 1.0:
            raise ValueError(f"activation slope must be in [0, 1), got {slope}")
        if beta <= 0:
            raise ValueError(f"activation beta must be > 0, got {beta}")
        self.slope = float(slope)
        self.beta = float(beta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return soft_leaky_relu(x, self.slope, self.beta)

    def extra_repr(self) -> str:
        return f"slope={self.slope}, beta={self.beta}"


ACTIVATIONS = ("soft_leaky_relu", "leaky_relu")


def make_activation(name: str, slope: float = 0.1, beta: float = 20.0) -> nn.Module:
    """σ by name: ``soft_leaky_relu`` (official, smooth; a·x + (1 − a)·softplus(βx)/β) or ``leaky_relu``
    (max(x, a·x): piecewise linear and positively 1-homogeneous, σ(cx) = c·σ(x) for c > 0; ``beta`` unused).
    Both are convex and nondecreasing for a ∈ [0, 1)."""
    if name == "soft_leaky_relu":
        return SoftLeakyReLU(slope, beta)
    if name == "leaky_relu":
        if not 0.0 <= slope < 1.0:
            raise ValueError(f"activation slope must be in [0, 1), got {slope}")
        return nn.LeakyReLU(slope)
    raise ValueError(f"unknown activation {name!r}; choose one of {ACTIVATIONS}")
