"""The network graph shared by SupportNet (ICNN) and KeyNet.

For x ∈ R^{B×d}, hidden width w, depth L and output width K:

    z_1     = σ(A_0 x + a_0)
    z_{ℓ+1} = σ( ρ(V_ℓ) z_ℓ + c_ℓ + [inject_ℓ] B_ℓ x ),   ℓ = 1..L   (z_{L+1} ∈ R^{B×K})

ρ is the rectifier (reparametrisation of the z-path weights, applied on every forward pass). With a
nonnegative ρ (softplus, relu) and σ convex nondecreasing, every output is convex in x (an ICNN). With
ρ = identity (the official SupportNet config and KeyNet) there is no constraint. σ is applied at the output
too, as in the official code, unless ``output_activation=False`` (a linear head).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from amips.models.wiring import injection_mask

RECTIFIERS = ("identity", "softplus", "relu")


def rectify(weight: torch.Tensor, rectifier: str) -> torch.Tensor:
    """Effective weight ρ(V)."""
    if rectifier == "identity":
        return weight
    if rectifier == "softplus":
        return F.softplus(weight)
    if rectifier == "relu":
        return F.relu(weight)
    raise ValueError(f"unknown rectifier {rectifier!r}; choose one of {RECTIFIERS}")


def inverse_rectify(weight: torch.Tensor, rectifier: str) -> torch.Tensor:
    """Raw V such that ρ(V) = ``weight`` (for positive ``weight``); identity for identity/relu."""
    if rectifier == "softplus":
        return weight + torch.log(-torch.expm1(-weight))
    return weight


class SkipMLP(nn.Module):
    """Depth-L MLP with x re-injected into selected layers; see the module docstring for the math.

    Args:
        dim: input size d.
        width: hidden width w (all hidden layers).
        depth: number of z-path layers L (= number of hidden layers).
        out_dim: output size K.
        wx_inject: skip mask rule (:func:`amips.models.wiring.injection_mask`).
        activation: σ, a module.
        output_activation: apply σ to the output layer (official) or not (linear head).
        rectifier: ρ for the z-path weights.
        use_bias: biases on the first and z-path layers (skips never have a bias).
    """

    def __init__(
        self,
        dim: int,
        width: int,
        depth: int,
        out_dim: int,
        wx_inject: bool | int,
        activation: nn.Module,
        output_activation: bool = True,
        rectifier: str = "identity",
        use_bias: bool = True,
    ) -> None:
        super().__init__()
        if rectifier not in RECTIFIERS:
            raise ValueError(f"unknown rectifier {rectifier!r}; choose one of {RECTIFIERS}")
        self.depth = depth
        self.rectifier = rectifier
        self.output_activation = output_activation
        self.activation = activation
        self.first = nn.Linear(dim, width, bias=use_bias)
        sizes = [width] * depth + [out_dim]
        self.z_weights = nn.ParameterList(
            [nn.Parameter(torch.empty(sizes[layer + 1], sizes[layer])) for layer in range(depth)]
        )
        self.z_biases = (
            nn.ParameterList([nn.Parameter(torch.zeros(sizes[layer + 1])) for layer in range(depth)])
            if use_bias
            else None
        )
        mask = injection_mask(depth, wx_inject)
        self.skips = nn.ModuleDict(
            {str(layer): nn.Linear(dim, sizes[layer + 1], bias=False) for layer in range(depth) if mask[layer]}
        )

    def effective_weight(self, layer: int) -> torch.Tensor:
        """ρ(V_ℓ) of z-path layer ``layer`` (0-based), shape [out, in]."""
        return rectify(self.z_weights[layer], self.rectifier)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, d] → [B, K]."""
        z = self.activation(self.first(x))
        for layer in range(self.depth):
            bias = self.z_biases[layer] if self.z_biases is not None else None
            pre = F.linear(z, self.effective_weight(layer), bias)
            skip = self.skips[str(layer)] if str(layer) in self.skips else None
            if skip is not None:
                pre = pre + skip(x)
            is_last = layer == self.depth - 1
            z = pre if (is_last and not self.output_activation) else self.activation(pre)
        return z
