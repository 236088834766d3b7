"""Convex SupportNets: trained softplus/relu runs stay convex, and the init_row_sum fix of the principled init."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from amips.data.sets import gaussian_sphere
from amips.exact.labels import exact_topk
from amips.models import ModelSpec, build_model
from amips.models.init import principled_moments
from amips.training.train import TrainData, TrainSpec, train_model


def _trained(rectifier: str, init_row_sum: float | None = None, steps: int = 60):
    ds = gaussian_sphere(200, 600, 8, seed=0)
    targets = exact_topk(ds.queries, ds.keys, 1)[1]
    spec = ModelSpec(kind="supportnet", depth=4, wx_inject=2, width=16, rectifier=rectifier, init_row_sum=init_row_sum)
    model = build_model(spec, 8, 200, seed=0)
    data = TrainData(torch.from_numpy(ds.queries), torch.from_numpy(targets), torch.from_numpy(ds.keys))
    spec_t = TrainSpec(steps=steps, batch_size=64, lr_peak=1e-2, warmup_steps=5, log_every=steps, select="last")
    return train_model(model, data, spec_t, seed=0).ema_model.double()


@pytest.mark.parametrize("rectifier", ["softplus", "relu"])
@pytest.mark.parametrize("init_row_sum", [None, 1.0])
def test_trained_convex_supportnet_is_convex(rectifier, init_row_sum):
    """After training, h has nonnegative z-path weights and passes midpoint convexity on random chords."""
    model = _trained(rectifier, init_row_sum)
    net = model.net
    initial = build_model(model.spec, 8, 200, seed=0)
    moved = any(not torch.equal(net.z_weights[i].float(), initial.net.z_weights[i]) for i in range(net.depth))
    assert moved  # training changed the raw kernels
    for layer in range(net.depth):
        assert float(net.effective_weight(layer).detach().min()) >= 0.0
    gen = torch.Generator().manual_seed(3)
    a = torch.randn(4000, 8, generator=gen, dtype=torch.float64) * 2
    b = torch.randn(4000, 8, generator=gen, dtype=torch.float64) * 2
    with torch.no_grad():
        gap = 0.5 * (net(a) + net(b)) - net(0.5 * (a + b))
    assert float(gap.min()) >= -1e-10


def test_trained_identity_supportnet_is_not_guaranteed_convex():
    """The control of the test above: with the official identity rectifier training makes z-path weights negative."""
    model = _trained("identity")
    assert any(float(model.net.effective_weight(i).detach().min()) < 0 for i in range(model.net.depth))


def test_init_row_sum_rescales_the_lognormal_moments():
    mean, var, bias = principled_moments(36, 0.0)
    m1, v1, b1 = principled_moments(36, 0.0, row_sum=1.0)
    assert 36 * m1 == pytest.approx(1.0) and b1 == bias
    assert math.sqrt(v1) / m1 == pytest.approx(math.sqrt(var) / mean)  # same log-normal shape (coefficient of variation)
    for n in (16, 36, 740):  # the principled row sum is ≈ 1.85 whatever the fan-in: the per-layer gain of the mean
        m, _, _ = principled_moments(n, 0.0)
        assert 1.7 < n * m < 1.9


@pytest.mark.parametrize("rectifier", ["identity", "softplus", "relu"])
def test_init_row_sum_bounds_the_initial_key_norm(rectifier):
    """Official init: |∇f| grows ×≈1.85 per layer (≈ 119 at depth 8 on the smoke test); row sum 1 keeps it ≈ 10."""
    x = torch.from_numpy(gaussian_sphere(10, 512, 32, seed=1).queries)
    norms = {}
    for row_sum in (None, 1.0):
        spec = ModelSpec(kind="supportnet", rectifier=rectifier, init_row_sum=row_sum)
        model = build_model(spec, 32, 2000, seed=0)
        hidden = model.net.effective_weight(2).detach()
        expected = 1.0 if row_sum else 36 * principled_moments(36, 0.0)[0]
        assert float(hidden.sum(dim=1).mean()) == pytest.approx(expected, rel=0.15)
        norms[row_sum] = float(model.predict(x)[1].norm(dim=-1).mean())
    assert norms[None] > 50 and norms[1.0] < norms[None] / 5


def test_default_spec_keeps_the_official_init():
    a = build_model(ModelSpec(kind="supportnet", width=36), 32, 2000, seed=2)
    b = build_model(ModelSpec(kind="supportnet", width=36, init_row_sum=None), 32, 2000, seed=2)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    with pytest.raises(ValueError, match="init_row_sum"):
        ModelSpec(kind="supportnet", init_row_sum=0.0)


@pytest.mark.slow
def test_row_sum_fix_lets_softplus_recover_from_the_initial_output_in_warm_up():
    """The measured failure: with the official init a softplus SupportNet's loss is still ≫ the identity rectifier's
    at the end of warm-up (its damped raw-kernel gradients shrink the inflated output slowly); init_row_sum 1 starts
    ~10× closer and is ~80× lower there (smoke-like data, d = 32, depth 8, width 36)."""
    ds = gaussian_sphere(500, 3000, 32, seed=0)
    targets = exact_topk(ds.queries, ds.keys, 1)[1]
    data = TrainData(torch.from_numpy(ds.queries), torch.from_numpy(targets), torch.from_numpy(ds.keys))
    losses = {}
    for name, kw in {"identity": {}, "softplus": {"rectifier": "softplus"},
                     "softplus_fixed": {"rectifier": "softplus", "init_row_sum": 1.0}}.items():
        model = build_model(ModelSpec(kind="supportnet", width=36, **kw), 32, 500, seed=0)
        spec = TrainSpec(steps=100, batch_size=256, lr_peak=2.83e-3, warmup_steps=100, log_every=100, select="last")
        losses[name] = train_model(model, data, spec, seed=0).history[-1]["loss"]
    assert losses["softplus"] > 1000 * losses["identity"]  # measured: 86 vs 0.035
    assert losses["softplus_fixed"] < losses["softplus"] / 50  # measured: 1.1
    assert np.isfinite(list(losses.values())).all()


def test_zpath_stats_count_damped_and_negative_weights():
    from amips.training.convex import zpath_stats

    for rectifier in ("identity", "softplus", "relu"):
        model = build_model(ModelSpec(kind="supportnet", depth=3, wx_inject=2, width=10, rectifier=rectifier), 6, 50)
        with torch.no_grad():
            for w in model.net.z_weights:
                w.fill_(-10.0)  # softplus'(−10) = σ(−10) ≈ 4.5e-5; relu: dead; identity: negative
        stats = zpath_stats(model)
        assert stats["damped_fraction"] == (0.0 if rectifier == "identity" else 1.0)
        assert stats["negative_fraction"] == (1.0 if rectifier == "identity" else 0.0)
    official = build_model(ModelSpec(kind="supportnet", width=36, rectifier="softplus"), 32, 2000, seed=0)
    assert zpath_stats(official)["row_sum"] == pytest.approx(36 * principled_moments(36, 0.0)[0], rel=0.15)


def test_row_sum_below_one_bounds_the_initial_key_norm_at_any_depth():
    """Mean path z ← R·z + β: R ≈ 1.85 (official) grows geometrically with depth, R = 1 linearly, R = 0.5 has the
    bounded fixed point β/(1 − R) (measured ‖∇f‖ at depth 16: ≈ 7000–10000, 8–17, 1.2–1.6)."""
    x = torch.from_numpy(gaussian_sphere(10, 512, 32, seed=1).queries)

    def norm(depth: int, row_sum: float | None, seed: int) -> float:
        spec = ModelSpec(kind="supportnet", rectifier="softplus", depth=depth, wx_inject=4, width=36, init_row_sum=row_sum)
        return float(build_model(spec, 32, 2000, seed=seed).predict(x)[1].norm(dim=-1).mean())

    for seed in range(3):
        assert norm(16, None, seed) > 1000
        assert 5 < norm(16, 1.0, seed) < 100
        assert max(norm(depth, 0.5, seed) for depth in (4, 8, 16)) < 3
