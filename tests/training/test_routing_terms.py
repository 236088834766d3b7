"""Routing terms of multi-output models (amips.training.routing_terms): the term, its configuration, training with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from amips.data.io import InputError
from amips.exact.labels import per_cluster_top1
from amips.models import ModelSpec, build_model
from amips.training.routing_terms import OracleCrossEntropy, make_routing, uses_routing
from amips.training.train import TrainData, TrainSpec, train_model


def test_oracle_ce_is_cross_entropy_against_the_best_target():
    pred = torch.tensor([[0.2, 0.5, 0.1], [0.3, 0.0, 0.9]], dtype=torch.float64)
    target = torch.tensor([[0.1, 0.0, 0.7], [0.8, 0.2, 0.1]], dtype=torch.float64)  # oracle outputs 2 and 0
    logits = pred / 0.5
    expected = -(torch.log_softmax(logits, dim=1)[[0, 1], [2, 0]]).mean()
    torch.testing.assert_close(OracleCrossEntropy(0.5)(pred, target), expected)


def test_oracle_ce_gradient_matches_finite_differences():
    gen = torch.Generator().manual_seed(0)
    pred = torch.randn(6, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    target = torch.randn(6, 5, dtype=torch.float64, generator=gen)
    assert torch.autograd.gradcheck(lambda p: OracleCrossEntropy(0.2)(p, target), (pred,))


def test_routing_configuration():
    assert make_routing(None) is None and make_routing({}) is None and make_routing({"name": "none"}) is None
    assert not uses_routing({"name": "none"}) and uses_routing({"name": "oracle_ce"})
    configured = make_routing({"name": "oracle_ce", "weight": 0.5, "temperature": 0.2})
    assert configured.weight == 0.5 and configured.term == OracleCrossEntropy(0.2)
    with pytest.raises(ValueError, match=r"unknown training.routing.name 'ce'; choose one of \['none', 'oracle_ce'\]"):
        make_routing({"name": "ce"})
    with pytest.raises(ValueError, match=r"unknown training.routing setting\(s\) \['margin'\]"):
        make_routing({"name": "oracle_ce", "margin": 1.0})
    with pytest.raises(ValueError, match="training.routing.weight must be a finite number > 0"):
        make_routing({"name": "oracle_ce", "weight": 0})
    with pytest.raises(ValueError, match="training.routing.temperature must be a finite number > 0"):
        TrainSpec(steps=1, batch_size=1, lr_peak=1e-3, routing={"name": "oracle_ce", "temperature": -1})


def _router_data(problem, clusters: int) -> TrainData:
    rows = problem["train"]
    queries, keys = problem["queries"][rows], problem["keys"]
    assignment = np.arange(len(keys)) % clusters
    return TrainData(torch.from_numpy(queries), torch.from_numpy(per_cluster_top1(queries, keys, assignment, clusters)),
                     torch.from_numpy(keys))


def _oracle_accuracy(model, data: TrainData) -> float:
    """Fraction of rows whose highest output is the oracle cluster (the one that holds the exact top-1)."""
    from amips.training.losses import all_target_scores

    with torch.no_grad():
        return float((model(data.queries).argmax(1) == all_target_scores(data.queries, data.keys,
                                                                         data.target_idx).argmax(1)).float().mean())


def test_the_oracle_term_trains_the_routing_order(tiny_problem):
    data = _router_data(tiny_problem, 6)
    spec = ModelSpec(kind="supportnet", homogenization="none", depth=2, wx_inject=2, width=16, num_outputs=6)
    base = dict(steps=150, batch_size=64, lr_peak=5e-3, warmup_steps=10, ema_decay=0.9, select="last",
                score_weight=1.0, key_weight=0.0, log_every=50)
    plain = train_model(build_model(spec, 16, 600, seed=0), data, TrainSpec(**base), seed=0)
    routed = train_model(build_model(spec, 16, 600, seed=0), data,
                         TrainSpec(**base, routing={"name": "oracle_ce", "weight": 0.1, "temperature": 0.05}), seed=0)
    assert "routing" in routed.history[-1] and "routing" not in plain.history[-1]
    assert _oracle_accuracy(routed.ema_model, data) > _oracle_accuracy(plain.ema_model, data) + 0.05


def test_routing_on_a_single_output_model_is_refused(tiny_problem):
    p = tiny_problem
    data = TrainData(torch.from_numpy(p["queries"][p["train"]]), torch.from_numpy(p["targets"][p["train"]]),
                     torch.from_numpy(p["keys"]))
    model = build_model(ModelSpec(kind="keynet", depth=2, width=8), 16, 600)
    with pytest.raises(InputError, match="training.routing oracle_ce applies to multi-output models"):
        train_model(model, data, TrainSpec(steps=2, batch_size=8, lr_peak=1e-3, select="last",
                                           routing={"name": "oracle_ce"}))
