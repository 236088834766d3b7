"""Routing terms for multi-output models (routers) — an amips extension, off by default.

A router with C outputs (one per cluster or IVF list) regresses each output's target score s_c(x), the best inner
product within cluster c (the paper's objective). Routing only needs the *order* of the outputs, and the cluster
that matters most is the oracle one, c*(x) = argmax_c s_c(x), which holds the exact top-1. A routing term trains that
order directly, added to the official loss with ``weight``:

* ``oracle_ce`` — softmax cross-entropy over the outputs, logits ŝ_c / τ, target c*(x): the objective of the
  learned linear router of Vecchiato et al. (SIGIR 2024), here on an AMIPS network's outputs.

The oracle is read from the regression targets themselves (no partition needed), so the term applies to the
8-cluster router and to the routers over an IVF index's lists alike. Configured as
``training.routing: {name: oracle_ce, weight: 0.003, temperature: 0.1}``; the registry is :data:`ROUTING_TERMS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

import torch

from amips.training.loss_terms import ConfiguredTerm, check_positive, make_term, uses_term


class RoutingTerm(Protocol):
    """A term of the training loss on predicted scores [B, C] and target scores [B, C]."""

    def __call__(self, pred_scores: torch.Tensor, target_scores: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class OracleCrossEntropy:
    """CE(softmax(ŝ / τ), argmax_c s_c) averaged over the batch (τ = ``temperature``)."""

    temperature: float = 0.1

    def __post_init__(self) -> None:
        check_positive("training.routing", "temperature", self.temperature)

    def __call__(self, pred_scores: torch.Tensor, target_scores: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(pred_scores / self.temperature, target_scores.argmax(dim=1))


ROUTING_TERMS: dict[str, Callable[..., RoutingTerm]] = {"oracle_ce": OracleCrossEntropy}


def uses_routing(cfg: dict[str, Any] | None) -> bool:
    """Whether a ``training.routing`` mapping turns a term on (None, {} and name none do not)."""
    return uses_term(cfg)


def make_routing(cfg: dict[str, Any] | None) -> ConfiguredTerm | None:
    """The term configured by ``{name, weight (default 1), <the term's own fields>}``; None for None/{}/name none.

    Raises ValueError naming the unknown term or field, or the out-of-range value.
    """
    return make_term(cfg, ROUTING_TERMS, "training.routing")
