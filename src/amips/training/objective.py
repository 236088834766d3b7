"""The loss of one training run: the official score + key regression (score only for a router without key weight),
with the optional retrieval term (:mod:`amips.training.retrieval`) and routing term
(:mod:`amips.training.routing_terms`). ``spec`` is a :class:`amips.training.train.TrainSpec`, ``data`` its
``TrainData`` (typed ``Any`` here: train imports this module).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from amips.data.io import InputError
from amips.models.networks import AmipsModel
from amips.training.losses import all_target_scores, amips_loss, score_only_loss, targets_for
from amips.training.retrieval import make_retrieval
from amips.training.routing_terms import make_routing

__all__ = ["Objective"]


@dataclass(frozen=True)
class Objective:
    """The loss of a run: the official score + key regression (or score only, for a router without key weight),
    plus the optional retrieval term (single-output models) and routing term (routers)."""

    retrieval: Any
    routing: Any
    score_targets: torch.Tensor | None  # [N, C] exact scores, for a score-only objective
    true_lists: torch.Tensor | None  # [N] IVF list of each row's true key, for a retrieval term

    @classmethod
    def of(cls, spec: Any, data: Any) -> "Objective":
        """The objective of ``spec`` on ``data`` (already on its device); ``InputError`` for a term that does not
        apply to these data."""
        retrieval = make_retrieval(spec.retrieval)
        if retrieval is not None and data.partition is None:
            raise InputError(f"training.retrieval {retrieval.name} needs the IVF partition to train on (the index's "
                             "centroids and key lists); none was given")
        if retrieval is not None and data.target_idx.shape[1] != 1:
            raise InputError(f"training.retrieval applies to single-output MIPS models, not to "
                             f"{data.target_idx.shape[1]} outputs (a router)")
        routing = make_routing(spec.routing)
        if routing is not None and data.target_idx.shape[1] < 2:
            raise InputError(f"training.routing {routing.name} applies to multi-output models (routers), not to a "
                             "single-output MIPS model")
        # a score-only objective (e.g. a router): no key, so no input gradient and no [B, C, d] key batch per step
        score_only = spec.key_weight == 0 and retrieval is None
        return cls(retrieval, routing,
                   all_target_scores(data.queries, data.keys, data.target_idx) if score_only else None,
                   data.true_lists() if retrieval is not None else None)

    def loss(self, model: AmipsModel, data: Any, idx: torch.Tensor, x: torch.Tensor,
             spec: Any) -> tuple[torch.Tensor, dict[str, float]]:
        """(loss, its parts) on the batch ``x`` = ``data.queries[idx]`` [B, d]."""
        if self.score_targets is not None:
            pred_scores, target_scores = model(x), self.score_targets[idx]
            loss, parts = score_only_loss(pred_scores, target_scores, spec.score_weight)
        else:
            target_scores, target_keys = targets_for(x, data.keys, data.target_idx[idx])
            pred_scores, pred_keys = model.predict(x, create_graph=True)
            loss, parts = amips_loss(pred_scores, pred_keys, target_scores, target_keys, spec.score_weight,
                                     spec.key_weight)
        if self.routing is not None:
            term = self.routing.term(pred_scores, target_scores)
            loss = loss + self.routing.weight * term
            parts["routing"] = float(term.detach())
        if self.retrieval is not None:
            term = self.retrieval.term(pred_keys[:, 0], self.true_lists[idx], data.partition.centroids)
            loss = loss + self.retrieval.weight * term
            parts["retrieval"] = float(term.detach())
        return loss, parts
