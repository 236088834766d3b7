"""Retrieval-aligned training terms (amips.training.retrieval): gradients, coverage, configuration, training, pipeline wiring."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from amips.data.sets import structured_embeddings
from amips.data.io import InputError
from amips.index.ivf import build_ivf
from amips.index.sweeps import ivf_sweep
from amips.exact.labels import exact_topk
from amips.models import ModelSpec, build_model
from amips.training.retrieval import (RETRIEVAL_TERMS, ListCrossEntropy, ListMargin, Partition, list_coverage, list_scores,
                             make_retrieval)
from amips.training.train import StaleCheckpoint, TrainData, TrainSpec, run_fingerprint, train_model


def _inputs(seed: int = 0, batch: int = 6, lists: int = 5, dim: int = 4):
    gen = torch.Generator().manual_seed(seed)
    pred = torch.randn(batch, dim, generator=gen, dtype=torch.float64, requires_grad=True)
    centroids = torch.randn(lists, dim, generator=gen, dtype=torch.float64)
    true = torch.randint(0, lists, (batch,), generator=gen)
    return pred, true, centroids


@pytest.mark.parametrize("term", [ListCrossEntropy(temperature=0.3), ListCrossEntropy(temperature=0.05),
                                  ListMargin(margin=0.5), ListMargin(margin=5.0)])
def test_every_term_gradient_matches_finite_differences(term):
    for seed in range(3):
        pred, true, centroids = _inputs(seed)
        assert torch.autograd.gradcheck(lambda g: term(g, true, centroids), (pred,), eps=1e-6, atol=1e-5)


def test_every_registered_term_is_gradient_checked():
    assert set(RETRIEVAL_TERMS) == {"list_ce", "list_margin"}  # a new term needs its case in the test above


def test_terms_ignore_the_norm_of_the_predicted_key():
    pred, true, centroids = _inputs()
    for term in (ListCrossEntropy(0.1), ListMargin(0.5)):
        assert torch.allclose(term(pred, true, centroids), term(7.5 * pred, true, centroids))


def test_list_margin_is_zero_exactly_when_the_true_list_wins_by_the_margin():
    centroids = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    pred = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    loss = ListMargin(margin=0.1)(pred, torch.tensor([0, 0]), centroids)
    assert loss.item() == pytest.approx(0.1 / 2)  # row 0 wins by 1 (no loss), row 1 ties (loss = margin)


def test_list_cross_entropy_equals_the_textbook_formula():
    pred, true, centroids = _inputs(1)
    unit = pred / pred.norm(dim=1, keepdim=True)
    logits = unit @ centroids.T / 0.2
    expected = -(logits.gather(1, true[:, None])[:, 0] - logits.logsumexp(dim=1)).mean()
    assert torch.allclose(ListCrossEntropy(0.2)(pred, true, centroids), expected)


def test_list_coverage_equals_the_ivf_routing_coverage_of_faiss():
    ds = structured_embeddings(600, 300, 16, seed=3)
    keys, queries = ds.keys.astype(np.float32), ds.queries.astype(np.float32)
    top1 = exact_topk(queries, keys, 1)[1][:, 0]
    ivf = build_ivf(keys, nlist=20, seed=0)
    partition = Partition.from_ivf(ivf)
    vectors = queries + 0.3 * np.random.default_rng(0).standard_normal(queries.shape).astype(np.float32)
    rows = ivf_sweep(ivf, vectors, top1, [1, 3], [1])
    true_list = partition.key_list[torch.from_numpy(top1)]
    for p, row in zip((1, 3), rows):
        # faiss ranks centroids by ⟨v, c⟩; list_scores by ⟨v/‖v‖, c⟩: the same order
        assert list_coverage(torch.from_numpy(vectors), true_list, partition.centroids, p) == pytest.approx(
            row["routing_coverage"], abs=1 / 300 + 1e-9)
    nan = torch.from_numpy(vectors).clone()
    nan[:10] = float("nan")
    rest = list_coverage(nan[10:], true_list[10:], partition.centroids, 3)
    assert list_coverage(nan, true_list, partition.centroids, 3) == pytest.approx(rest * 290 / 300)  # NaN: a miss


def test_list_scores_rank_as_the_raw_inner_products():
    pred, _, centroids = _inputs(2)
    assert torch.equal(list_scores(pred, centroids).argsort(dim=1), (pred @ centroids.T).argsort(dim=1))


@pytest.mark.parametrize("cfg,message", [
    ({"name": "listwise"}, "unknown training.retrieval.name 'listwise'"),
    ({"name": "list_ce", "margin": 0.1}, "unknown training.retrieval setting(s) ['margin'] for list_ce"),
    ({"name": "list_ce", "temperature": 0}, "temperature must be a finite number > 0"),
    ({"name": "list_margin", "weight": float("nan")}, "weight must be a finite number > 0"),
])
def test_bad_retrieval_settings_are_named(cfg, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]")):
        TrainSpec(steps=1, batch_size=1, lr_peak=1e-3, retrieval=cfg)


def test_retrieval_off_by_default_and_none_means_off():
    assert TrainSpec(steps=1, batch_size=1, lr_peak=1e-3).retrieval is None
    assert make_retrieval(None) is None and make_retrieval({"name": "none"}) is None
    configured = make_retrieval({"name": "list_margin", "weight": 0.5, "margin": 0.03})
    assert configured.weight == 0.5 and configured.term == ListMargin(0.03)


def test_partition_checks_its_shapes():
    with pytest.raises(InputError, match="key lists must lie in"):
        Partition(torch.zeros(3, 4), torch.tensor([0, 3]))
    keys = torch.zeros(5, 4)
    with pytest.raises(InputError, match="the partition lists 2 keys, the key set has 5"):
        TrainData(torch.zeros(3, 4), torch.zeros(3, 1, dtype=torch.long), keys, Partition(torch.zeros(2, 4), torch.tensor([0, 1])))
    with pytest.raises(InputError, match="partition centroids have dimension 3"):
        TrainData(torch.zeros(3, 4), torch.zeros(3, 1, dtype=torch.long), keys,
                  Partition(torch.zeros(2, 3), torch.zeros(5, dtype=torch.long)))


@pytest.fixture(scope="module")
def routed_problem():
    """Structured keys (m = 1500, d = 16), 3000 training and 1500 held-out queries, a 38-list IVF partition."""
    ds = structured_embeddings(1500, 4500, 16, seed=1, query_noise=0.5)
    keys, queries = ds.keys.astype(np.float32), ds.queries.astype(np.float32)
    targets = exact_topk(queries, keys, 1)[1]
    partition = Partition.from_ivf(build_ivf(keys, seed=0))
    return keys, queries, targets, partition


def _fit(problem, retrieval, steps=300):
    keys, queries, targets, partition = problem
    model = build_model(ModelSpec(kind="keynet", resnet=True, depth=3, wx_inject=2, parameters_fraction=0.1),
                        keys.shape[1], keys.shape[0], seed=0)
    data = TrainData(torch.from_numpy(queries[:3000]), torch.from_numpy(targets[:3000]), torch.from_numpy(keys),
                     partition)
    spec = TrainSpec(steps=steps, batch_size=128, lr_peak=3e-3, warmup_steps=15, select="last", log_every=100,
                     retrieval=retrieval)
    g = train_model(model, data, spec, seed=0).ema_model.predict(torch.from_numpy(queries[:3000]))[1][:, 0]
    true_list = partition.key_list[torch.from_numpy(targets[:3000, 0])]
    return list_coverage(g.detach(), true_list, partition.centroids)


def test_a_retrieval_term_raises_the_coverage_it_trains_for(routed_problem):
    official = _fit(routed_problem, None)
    trained = _fit(routed_problem, {"name": "list_ce", "weight": 1.0, "temperature": 0.05})
    assert trained > official + 0.02, (official, trained)


def test_retrieval_needs_a_partition_and_a_single_output(routed_problem):
    keys, queries, targets, partition = routed_problem
    model = build_model(ModelSpec(kind="keynet", depth=2, width=8), 16, 1500, seed=0)
    spec = TrainSpec(steps=2, batch_size=16, lr_peak=1e-3, select="last", retrieval={"name": "list_ce"})
    with pytest.raises(InputError, match="needs the IVF partition"):
        train_model(model, TrainData(torch.from_numpy(queries), torch.from_numpy(targets), torch.from_numpy(keys)), spec)
    two = torch.from_numpy(np.repeat(targets, 2, axis=1))
    with pytest.raises(InputError, match="single-output MIPS models"):
        train_model(model, TrainData(torch.from_numpy(queries), two, torch.from_numpy(keys), partition), spec)


def test_the_partition_is_part_of_a_run_fingerprint(routed_problem, tmp_path):
    keys, queries, targets, partition = routed_problem
    spec = TrainSpec(steps=4, batch_size=16, lr_peak=1e-3, select="last", retrieval={"name": "list_margin"},
                     checkpoint_every=2)
    model = build_model(ModelSpec(kind="keynet", depth=2, width=8), 16, 1500, seed=0)
    data = TrainData(torch.from_numpy(queries), torch.from_numpy(targets), torch.from_numpy(keys), partition)
    train_model(model, data, spec, checkpoint_path=tmp_path / "ckpt.pt", stop_after=2)
    other = Partition(partition.centroids + 0.01, partition.key_list)
    assert run_fingerprint(model, data, spec, 0) != run_fingerprint(
        model, TrainData(data.queries, data.target_idx, data.keys, other), spec, 0)
    with pytest.raises(StaleCheckpoint, match="partition_centroids"):
        train_model(build_model(ModelSpec(kind="keynet", depth=2, width=8), 16, 1500, seed=0),
                    TrainData(data.queries, data.target_idx, data.keys, other), spec,
                    checkpoint_path=tmp_path / "ckpt.pt")
