"""Weight initialisers: LeCun-normal (as in JAX/Flax) and the principled ICNN init.

The principled init follows Hoedt & Klambauer (2023) as implemented in the official code
(see docs: method.md §1.5): every *effective* z-path weight is log-normal with mean ``m`` and
variance ``v``; the bias is a constant ``±β``.
"""

from __future__ import annotations

import math

import torch

_TRUNC_STD_CORRECTION = 0.87962566103423978  # std of a unit normal truncated to [-2, 2]


@torch.no_grad()
def lecun_normal_(weight: torch.Tensor, scale: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill ``weight`` [out, in] from a truncated normal with variance ``scale / fan_in`` (JAX's lecun_normal)."""
    fan_in = weight.shape[1]
    std = math.sqrt(1.0 / fan_in) / _TRUNC_STD_CORRECTION
    torch.nn.init.trunc_normal_(weight, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=generator)
    weight.mul_(std * scale)
    return weight


def principled_moments(fan_in: int, alpha: float, row_sum: float | None = None) -> tuple[float, float, float]:
    """Return (mean m, variance v, bias magnitude β) of the principled init for one z-path layer.

    With n = fan_in and slope α:
        a = (1−α)²·[6π − 6n + (n−1)(3√3 + 2π)],  b = 6πα(n+1)
        m² = 6π / (n(a+b)),  v = 1 / ((1+α²) n),  β = √(3n(1−α)² / (a+b)).

    The expected row sum n·m is the gain of the nonnegative path on a positive mean activation: ≈ √(6π/5.48) ≈ 1.85
    for every n at α = 0, so with the official +β bias the mean grows ×1.85 per hidden layer (|∇f| ≈ 40–120 at depth
    8 instead of ≈ 1). ``row_sum`` R (None: principled) rescales the weight distribution by k = R/(n·m) — mean
    k·m, variance k²·v, same log-normal shape — so the expected row sum is R; β is unchanged. The mean path is then
    z ← R·z + β: R < 1 has the bounded fixed point β/(1 − R) at any depth.
    """
    n = float(fan_in)
    a = (1.0 - alpha) ** 2 * (6 * math.pi - 6 * n + (n - 1) * (3 * math.sqrt(3) + 2 * math.pi))
    b = 6 * math.pi * alpha * (n + 1)
    mean = math.sqrt(6 * math.pi / (n * (a + b)))
    var = 1.0 / ((1.0 + alpha**2) * n)
    bias = math.sqrt(3 * n * (1.0 - alpha) ** 2 / (a + b))
    if row_sum is not None:
        scale = row_sum / (n * mean)
        mean, var = mean * scale, var * scale**2
    return mean, var, bias


@torch.no_grad()
def lognormal_(weight: torch.Tensor, mean: float, var: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill ``weight`` with log-normal draws of the given mean and variance: exp(μ + sε)."""
    s2 = math.log1p(var / mean**2)
    mu = math.log(mean) - s2 / 2
    weight.normal_(0.0, 1.0, generator=generator).mul_(math.sqrt(s2)).add_(mu).exp_()
    return weight
