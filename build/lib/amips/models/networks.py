"""SupportNet and KeyNet: two ways to amortize s(x) = max_k ⟨x, k⟩ and its argmax key ∇s(x).

Both expose ``predict(x) -> (scores [B, C], keys [B, C, d])`` with C = ``num_outputs`` (1 for plain MIPS,
the number of clusters for a router), and ``forward(x) -> scores [B, C]``.
"""

from __future__ import annotations

import torch
from torch import nn

from amips.models.activations import make_activation
from amips.models.homogenize import build_homogenizer, homogenizer_class
from amips.models.init import lecun_normal_, lognormal_, principled_moments
from amips.models.skipmlp import SkipMLP, inverse_rectify
from amips.models.spec import ModelSpec


def _skip_mlp(spec: ModelSpec, dim: int, width: int, out_dim: int, rectifier: str | None = None) -> SkipMLP:
    """The inner network of ``spec``, as constrained by its homogenization wrapper (``net_spec``)."""
    net = homogenizer_class(spec.homogenization, spec.kind).net_spec(spec)
    return SkipMLP(
        dim, width, net.depth, out_dim, net.wx_inject,
        make_activation(net.activation, net.activation_slope, net.activation_beta),
        output_activation=net.output_activation, rectifier=rectifier or net.rectifier, use_bias=net.use_bias,
    )


class AmipsModel(nn.Module):
    """Common interface of the learned MIPS models."""

    spec: ModelSpec
    dim: int
    width: int

    @property
    def num_outputs(self) -> int:
        return self.spec.num_outputs

    def predict(self, x: torch.Tensor, create_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores [B, C] and keys [B, C, d] for queries x [B, d]."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _init_linear_layers(self, generator: torch.Generator) -> None:
        net = self.net
        lecun_normal_(net.first.weight, generator=generator)
        if net.first.bias is not None:
            nn.init.zeros_(net.first.bias)
        for skip in net.skips.values():
            lecun_normal_(skip.weight, generator=generator)


class SupportNet(AmipsModel):
    """Potential f: R^d → R^C (an ICNN h wrapped by ``spec.homogenization``); the predicted key is ∇_x f (autodiff).

    ``radial`` (official): f(x) = ‖x‖·h(x/‖x‖), positively 1-homogeneous, so ⟨∇f(x), x⟩ = f(x) (Euler); the other
    wrappers are in :mod:`amips.models.homogenize`.
    """

    def __init__(self, spec: ModelSpec, dim: int, width: int, generator: torch.Generator) -> None:
        super().__init__()
        if spec.kind != "supportnet":
            raise ValueError(f"SupportNet needs kind 'supportnet', got {spec.kind!r}")
        self.spec, self.dim, self.width = spec, dim, width
        self.net = _skip_mlp(spec, dim, width, spec.num_outputs)
        self._init_linear_layers(generator)
        self._init_z_path(generator)
        self.homogenizer = build_homogenizer(spec.homogenization, spec.kind, dim, generator)

    @torch.no_grad()
    def _init_z_path(self, generator: torch.Generator) -> None:
        net, spec = self.net, self.spec
        rectifier = net.rectifier
        for layer in range(net.depth):
            weight = net.z_weights[layer]
            bias = net.z_biases[layer] if net.z_biases is not None else None
            if spec.principled_init:
                alpha = 1.0 if layer == net.depth - 1 else 0.0  # official: α by identity of σ → 0; output α = 1
                mean, var, shift = principled_moments(weight.shape[1], alpha, spec.init_row_sum)
                lognormal_(weight, mean, var, generator=generator)
                weight.copy_(inverse_rectify(weight, rectifier))
                if bias is not None:
                    bias.fill_(spec.init_bias_sign * shift)
            else:
                lecun_normal_(weight, generator=generator)
                if rectifier != "identity":
                    weight.abs_()  # start inside the convex cone's interior for relu/softplus
                if bias is not None:
                    bias.zero_()

    def potential(self, x: torch.Tensor) -> torch.Tensor:
        """f(x): [B, d] → [B, C]."""
        return self.homogenizer(self.net, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.potential(x)

    def predict(self, x: torch.Tensor, create_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(f(x) [B, C], ∇_x f(x) [B, C, d]); ``create_graph`` keeps the graph for training on the gradient."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            scores = self.potential(x)
            count = scores.shape[1]
            keys = [
                torch.autograd.grad(
                    scores[:, c].sum(), x, create_graph=create_graph, retain_graph=create_graph or c < count - 1
                )[0]
                for c in range(count)
            ]
        keys_t = torch.stack(keys, dim=1)
        if not create_graph:
            return scores.detach(), keys_t.detach()
        return scores, keys_t


class KeyNet(AmipsModel):
    """Key map g: R^d → R^{C×d} regressed directly; score ⟨g(x), x⟩ (Euler's identity for a 1-homogeneous s).

    The key map is the wrapped inner map k(u) = net(u) (``resnet``: u + net(u)); ``radial`` (official):
    g(x) = k(x/‖x‖), a 0-homogeneous key, so the score is 1-homogeneous; other wrappers: :mod:`amips.models.homogenize`.
    """

    def __init__(self, spec: ModelSpec, dim: int, width: int, generator: torch.Generator) -> None:
        super().__init__()
        if spec.kind != "keynet":
            raise ValueError(f"KeyNet needs kind 'keynet', got {spec.kind!r}")
        self.spec, self.dim, self.width = spec, dim, width
        self.net = _skip_mlp(spec, dim, width, dim * spec.num_outputs, rectifier="identity")
        self._init_linear_layers(generator)
        scale = spec.final_layer_scale if spec.final_layer_scale is not None else (0.01 if spec.resnet else 1.0)
        with torch.no_grad():
            for layer in range(self.net.depth):
                lecun_normal_(self.net.z_weights[layer], scale=scale if layer == self.net.depth - 1 else 1.0,
                              generator=generator)
            last = str(self.net.depth - 1)
            if last in self.net.skips:
                lecun_normal_(self.net.skips[last].weight, scale=scale, generator=generator)
        self.homogenizer = build_homogenizer(spec.homogenization, spec.kind, dim, generator)

    def _inner(self, u: torch.Tensor) -> torch.Tensor:
        """k(u) = net(u) (``resnet``: u + net(u)), [B, d] → [B, C·d]."""
        out = self.net(u)
        return u + out if self.spec.resnet else out

    def keys(self, x: torch.Tensor) -> torch.Tensor:
        """g(x): [B, d] → [B, C, d]."""
        return self.homogenizer(self._inner, x).reshape(x.shape[0], self.spec.num_outputs, self.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.predict(x)[0]

    def predict(self, x: torch.Tensor, create_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(⟨g(x), x⟩ [B, C], g(x) [B, C, d]); no autodiff is involved, ``create_graph`` is accepted for symmetry."""
        keys = self.keys(x)
        return torch.einsum("bcd,bd->bc", keys, x), keys
