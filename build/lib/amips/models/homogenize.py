"""Homogenization wrappers: how an inner network becomes a homogeneous potential (SupportNet) or key map (KeyNet).

The MIPS value s(x) = max_k ⟨x, k⟩ is positively 1-homogeneous (s(tx) = t·s(x), t > 0), convex, and its argmax
key ∇s(x) is 0-homogeneous (∇s(tx) = ∇s(x)). A wrapper builds a model with (some of) these properties around an
inner map ``inner: R^d → R^K`` (the SkipMLP, plus the residual for a resnet KeyNet). Its *degree* p is 1 for a
SupportNet potential f and 0 for a KeyNet key map g (so the KeyNet score ⟨g(x), x⟩ is 1-homogeneous).

Registry (name → class, :data:`HOMOGENIZERS`); each class states its guarantee (:class:`Guarantee`):

========================  ==========================================  ===========  ============  ===============
name                      wrapped map (degree p)                      homogeneous  convexity     no-op on ‖x‖=1
========================  ==========================================  ===========  ============  ===============
``none``                  inner(x)                                    no           kept          (is the base)
``radial`` (official)     ‖x‖^p · inner(x/‖x‖)                        yes          not kept      KeyNet only
``gauge``                 γ(x)^p · inner(x/γ(x)), γ(x) = ‖Lx‖         yes          not kept      never
``homogeneous_icnn``      a bias-free ICNN with leaky-ReLU (p = 1)    yes          always        never
========================  ==========================================  ===========  ============  ===============

"No-op on ‖x‖ = 1" means the wrapped model computes the same outputs *and* keys as ``none`` on unit-norm queries:
true for the radial KeyNet (g(x) = k(x/‖x‖) = k(x)), false for the radial SupportNet (same value, but the key is
∇f(x) = h(x)·x + (I − xxᵀ)∇h(x) ≠ ∇h(x)). :func:`is_noop` answers it for a dataset's query normalisation, and the
sweep skips such runs instead of training the same function twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar, Protocol, TypeVar

import torch
from torch import nn


class SpecLike(Protocol):
    """What a wrapper reads of a model spec (:class:`amips.models.spec.ModelSpec`, which imports this module)."""

    rectifier: str

    def replace(self, **changes: object) -> "SpecLike": ...


Spec = TypeVar("Spec", bound=SpecLike)

_EPS = 1e-12
GAUGE_RANK = 8
KINDS = ("supportnet", "keynet")
DEGREE = {"supportnet": 1, "keynet": 0}

Inner = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Guarantee:
    """What a wrapper guarantees for one model kind.

    Attributes:
        homogeneous: SupportNet f(tx) = t·f(x); KeyNet g(tx) = g(x) (so its score is 1-homogeneous), for t > 0.
        convexity: ``kept`` (f convex whenever the inner ICNN is: rectifier softplus/relu), ``always`` (convex by
            construction, any weights) or ``not kept`` (may be non-convex even for a convex inner network).
        unit_norm_noop: equals ``none`` (outputs and keys) on every unit-norm query.
    """

    homogeneous: bool
    convexity: str
    unit_norm_noop: bool


def _unit(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(x/‖x‖ [B, d], ‖x‖ [B, 1])."""
    norm = x.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    return x / norm, norm


class Homogenizer(nn.Module):
    """Base class: ``forward(inner, x)`` is the wrapped map, [B, d] → [B, K]; ``degree`` p ∈ {0, 1}."""

    name: ClassVar[str]
    kinds: ClassVar[tuple[str, ...]] = KINDS
    source: ClassVar[str] = ""

    def __init__(self, kind: str, dim: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if kind not in self.kinds:
            raise ValueError(f"homogenization {self.name!r} applies to {', '.join(self.kinds)}, not {kind!r}")
        self.kind, self.dim, self.degree = kind, dim, DEGREE[kind]

    @classmethod
    def guarantee(cls, kind: str) -> Guarantee:
        raise NotImplementedError

    @classmethod
    def net_spec(cls, spec: Spec) -> Spec:
        """The spec the inner network is built from (a wrapper may constrain it); default: ``spec`` itself."""
        return spec

    @classmethod
    def extra_parameters(cls, dim: int) -> int:
        """Parameters the wrapper itself owns (not counted by the width solver)."""
        return 0

    def forward(self, inner: Inner, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _scale(self, out: torch.Tensor, gauge: torch.Tensor) -> torch.Tensor:
        return gauge * out if self.degree == 1 else out


class NoHomogenization(Homogenizer):
    """f(x) = inner(x): the raw network (no homogeneity; an ICNN with a nonnegative rectifier stays convex)."""

    name = "none"
    source = "the raw network (the official KeyNet; SupportNet with supportnet_homogenize: false)"

    @classmethod
    def guarantee(cls, kind: str) -> Guarantee:
        return Guarantee(homogeneous=False, convexity="kept", unit_norm_noop=True)

    def forward(self, inner: Inner, x: torch.Tensor) -> torch.Tensor:
        return inner(x)


class Radial(Homogenizer):
    """The official wrapper (method.md §3): f(x) = ‖x‖·h(x/‖x‖) for SupportNet, g(x) = k(x/‖x‖) for KeyNet.

    The positively homogeneous extension of h restricted to the unit sphere. f is 1-homogeneous, so Euler's
    identity ⟨∇f(x), x⟩ = f(x) holds; convexity of h is not inherited (x₁²/‖x‖ is not convex). On unit-norm
    queries the KeyNet wrapper is the identity (a no-op); the SupportNet key still changes (module docstring).
    """

    name = "radial"
    source = "ml-amips official code; method.md §3"

    @classmethod
    def guarantee(cls, kind: str) -> Guarantee:
        return Guarantee(homogeneous=True, convexity="not kept", unit_norm_noop=kind == "keynet")

    def forward(self, inner: Inner, x: torch.Tensor) -> torch.Tensor:
        unit, norm = _unit(x)
        return self._scale(inner(unit), norm)


class Gauge(Homogenizer):
    """f(x) = γ(x)·h(x/γ(x)) (SupportNet), g(x) = k(x/γ(x)) (KeyNet), with a learned norm γ(x) = ‖Lx‖.

    L = I + U Vᵀ with U, V ∈ R^{d×r} (r = :data:`GAUGE_RANK`), U = 0 at init, so training starts at the radial
    wrapper and learns which ellipsoid {x : ‖Lx‖ = 1} the inner network is evaluated on. γ is the gauge
    (Minkowski functional) of that ellipsoid (Rockafellar, *Convex Analysis*, §15), positively 1-homogeneous, so
    f is 1-homogeneous (Euler's identity holds) and g is 0-homogeneous; convexity of h is not inherited. Unlike
    ``radial`` it changes the KeyNet on unit-norm queries (x/γ(x) is not x unless L is orthogonal on x).
    """

    name = "gauge"
    source = "gauge of an ellipsoid (Rockafellar 1970, §15) in place of the Euclidean norm of the radial wrapper"

    def __init__(self, kind: str, dim: int, generator: torch.Generator | None = None) -> None:
        super().__init__(kind, dim, generator)
        rank = min(GAUGE_RANK, dim)
        self.u = nn.Parameter(torch.zeros(dim, rank))
        self.v = nn.Parameter(torch.randn(dim, rank, generator=generator) / dim**0.5)

    @classmethod
    def guarantee(cls, kind: str) -> Guarantee:
        return Guarantee(homogeneous=True, convexity="not kept", unit_norm_noop=False)

    @classmethod
    def extra_parameters(cls, dim: int) -> int:
        return 2 * dim * min(GAUGE_RANK, dim)

    def gauge(self, x: torch.Tensor) -> torch.Tensor:
        """γ(x) = ‖x + U Vᵀ x‖, [B, d] → [B, 1] (clamped away from 0)."""
        lx = x + (x @ self.v) @ self.u.T
        return lx.norm(dim=-1, keepdim=True).clamp_min(_EPS)

    def forward(self, inner: Inner, x: torch.Tensor) -> torch.Tensor:
        gauge = self.gauge(x)
        return self._scale(inner(x / gauge), gauge)


class HomogeneousICNN(Homogenizer):
    """A structurally homogeneous ICNN: no biases anywhere, leaky-ReLU σ(t) = max(t, a·t), nonnegative z-weights.

    Every layer is positively 1-homogeneous (linear maps without bias, σ(ct) = c·σ(t) for c > 0), so f(tx) = t·f(x)
    exactly; with ρ(V) ≥ 0 and σ convex nondecreasing, f is convex for *any* weights. A convex, positively
    1-homogeneous function is the support function of a convex set (Rockafellar 1970, Thm. 13.2): f is exactly
    the support function of some convex body, piecewise linear, and ∇f(x) is a point of it. The inner network is
    built with ``use_bias=False``, ``activation='leaky_relu'`` and the spec's rectifier, or ``softplus`` when the
    spec says ``identity`` (identity would drop convexity). SupportNet only (a 1-homogeneous key map would make the
    KeyNet score 2-homogeneous).
    """

    name = "homogeneous_icnn"
    kinds = ("supportnet",)
    source = ("support functions = convex 1-homogeneous functions (Rockafellar 1970, Thm. 13.2); ICNN (Amos et al. "
              "2017); the 'bias-free ReLU network' variant guessed in reference/paper.md §4.8")

    @classmethod
    def guarantee(cls, kind: str) -> Guarantee:
        return Guarantee(homogeneous=True, convexity="always", unit_norm_noop=False)

    @classmethod
    def net_spec(cls, spec: Spec) -> Spec:
        rectifier = "softplus" if spec.rectifier == "identity" else spec.rectifier
        return spec.replace(use_bias=False, activation="leaky_relu", rectifier=rectifier)

    def forward(self, inner: Inner, x: torch.Tensor) -> torch.Tensor:
        return inner(x)


HOMOGENIZERS: dict[str, type[Homogenizer]] = {
    cls.name: cls for cls in (NoHomogenization, Radial, Gauge, HomogeneousICNN)
}
HOMOGENIZATIONS = tuple(HOMOGENIZERS)


def homogenizer_class(name: str, kind: str | None = None) -> type[Homogenizer]:
    """The registered wrapper ``name`` (checked to apply to ``kind`` when given); ``ValueError`` otherwise."""
    if name not in HOMOGENIZERS:
        raise ValueError(f"unknown homogenization {name!r}; choose one of {HOMOGENIZATIONS}")
    cls = HOMOGENIZERS[name]
    if kind is not None and kind not in cls.kinds:
        raise ValueError(f"homogenization {name!r} applies to {', '.join(cls.kinds)}, not {kind!r}")
    return cls


def build_homogenizer(name: str, kind: str, dim: int, generator: torch.Generator | None = None) -> Homogenizer:
    """Instantiate wrapper ``name`` for a ``kind`` model on d = ``dim`` (its parameters drawn from ``generator``)."""
    return homogenizer_class(name, kind)(kind, dim, generator)


def applies(name: str, kind: str) -> bool:
    """Whether wrapper ``name`` can wrap a ``kind`` model."""
    return kind in homogenizer_class(name).kinds


def is_noop(name: str, kind: str, unit_norm_queries: bool) -> bool:
    """True when wrapper ``name`` on a ``kind`` model provably computes the same function as ``none`` on the data.

    That is the case for a wrapper whose guarantee says ``unit_norm_noop`` when every query (and noisy copy) the
    model sees has norm 1. ``none`` itself is never reported.
    """
    if name == "none":
        return False
    return unit_norm_queries and homogenizer_class(name, kind).guarantee(kind).unit_norm_noop
