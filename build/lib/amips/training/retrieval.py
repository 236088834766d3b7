"""Retrieval-aligned training terms (an amips extension; off by default, so the official loss stays the reproduction).

IVF probes the lists whose centroids score highest against the probing vector. Probing with the predicted key ĝ(x)
and ranking the candidates with x finds the exact top-1 exactly when the true key's list l*(x) is among the probed
lists (the *routing coverage*). These terms train that coarse step directly, on the index's own partition
(centroids c_l [L, d], list of every key [m]), added to the official loss with ``weight``:

* ``list_ce`` — softmax cross-entropy over the lists, logits ⟨ĝ/‖ĝ‖, c_l⟩ / τ, target l*(x);
* ``list_margin`` — hinge on the true list's margin, mean_b max(0, γ − (⟨ĝ/‖ĝ‖, c_l*⟩ − max_{l≠l*} ⟨ĝ/‖ĝ‖, c_l⟩)).

Ranking the lists by ⟨ĝ, c_l⟩ does not depend on ‖ĝ‖, so both terms score the direction ĝ/‖ĝ‖ only: they cannot be
lowered by inflating the key's norm (which a listwise loss over raw inner products does, raising rn2 above 1).
Configured as ``training.retrieval: {name: list_ce, weight: 1.0, temperature: 0.05}``; the registry is
:data:`RETRIEVAL_TERMS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np
import torch

from amips.data.io import InputError
from amips.training.loss_terms import ConfiguredTerm, check_positive, make_term, uses_term

NORM_EPS = 1e-12


@dataclass
class Partition:
    """An IVF partition: centroids [L, d] and the list of every key [m] (int64)."""

    centroids: torch.Tensor
    key_list: torch.Tensor

    def __post_init__(self) -> None:
        if self.centroids.ndim != 2 or self.key_list.ndim != 1:
            raise InputError(f"partition: centroids must be [L, d] and key lists [m], got {tuple(self.centroids.shape)} "
                             f"and {tuple(self.key_list.shape)}")
        if self.key_list.numel() and (int(self.key_list.min()) < 0 or int(self.key_list.max()) >= self.centroids.shape[0]):
            raise InputError(f"partition: key lists must lie in [0, {self.centroids.shape[0]}) (a key outside every list?)")

    @classmethod
    def from_ivf(cls, ivf: Any) -> "Partition":
        """The partition of an :class:`amips.index.ivf.IvfFlatIndex` (its coarse quantiser's centroids, key
        lists)."""
        quantizer = ivf.index.quantizer
        centroids = np.asarray(quantizer.reconstruct_n(0, quantizer.ntotal), np.float32)
        return cls(torch.from_numpy(centroids), torch.from_numpy(np.asarray(ivf.key_list, np.int64)))

    def to(self, device: str) -> "Partition":
        return Partition(self.centroids.to(device), self.key_list.to(device))


def list_scores(pred_keys: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """⟨ĝ/‖ĝ‖, c_l⟩ [B, L] for predicted keys [B, d] and centroids [L, d] (the probe order of ĝ)."""
    unit = pred_keys / pred_keys.norm(dim=-1, keepdim=True).clamp_min(NORM_EPS)
    return unit @ centroids.T


def list_coverage(pred_keys: torch.Tensor, true_list: torch.Tensor, centroids: torch.Tensor, probes: int = 1) -> float:
    """Fraction of rows whose true list [B] is among the ``probes`` lists that ĝ [B, d] ranks first (ties: lowest
    index first, as a stable top-k); non-finite predictions never cover."""
    scores = list_scores(pred_keys, centroids)
    finite = torch.isfinite(scores).all(dim=1)
    top = torch.topk(torch.nan_to_num(scores, nan=-math.inf), min(probes, scores.shape[1]), dim=1).indices
    return float(((top == true_list[:, None]).any(dim=1) & finite).float().mean())


class RetrievalTerm(Protocol):
    """A term of the training loss on predicted keys [B, d], true lists [B] and centroids [L, d]."""

    def __call__(self, pred_keys: torch.Tensor, true_list: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class ListCrossEntropy:
    """Cross-entropy of softmax(⟨ĝ/‖ĝ‖, c_l⟩ / τ) against the true list (τ = ``temperature``)."""

    temperature: float = 0.05

    def __post_init__(self) -> None:
        _check_positive("temperature", self.temperature)

    def __call__(self, pred_keys: torch.Tensor, true_list: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(list_scores(pred_keys, centroids) / self.temperature, true_list)


@dataclass(frozen=True)
class ListMargin:
    """Hinge max(0, γ − (s_l* − max_{l≠l*} s_l)) on s = ⟨ĝ/‖ĝ‖, c_l⟩, averaged over the batch (γ = ``margin``)."""

    margin: float = 0.02

    def __post_init__(self) -> None:
        _check_positive("margin", self.margin)

    def __call__(self, pred_keys: torch.Tensor, true_list: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
        scores = list_scores(pred_keys, centroids)
        true = scores.gather(1, true_list[:, None])[:, 0]
        others = scores.scatter(1, true_list[:, None], -math.inf).amax(dim=1)
        return torch.relu(self.margin - (true - others)).mean()


def _check_positive(name: str, value: float) -> None:
    check_positive("training.retrieval", name, value)


RETRIEVAL_TERMS: dict[str, Callable[..., RetrievalTerm]] = {"list_ce": ListCrossEntropy, "list_margin": ListMargin}


def uses_retrieval(cfg: dict[str, Any] | None) -> bool:
    """Whether a ``training.retrieval`` mapping turns a term on (None, {} and name none do not)."""
    return uses_term(cfg)


def make_retrieval(cfg: dict[str, Any] | None) -> ConfiguredTerm | None:
    """The term configured by ``{name, weight (default 1), <the term's own fields>}``; None for None/{}/name none.

    Raises ValueError naming the unknown term or field, or the out-of-range value.
    """
    return make_term(cfg, RETRIEVAL_TERMS, "training.retrieval")
