"""Theory checks of SupportNet/KeyNet: homogeneity, Euler's identity, convexity, support-function gradients."""

from __future__ import annotations

import math

import pytest
import torch

from amips.models import ModelSpec, build_model, parameter_count
from amips.models.factory import expected_parameter_count, resolve_width
from amips.models.init import principled_moments
from amips.models.sizing import parameter_budget, solve_width
from amips.models.wiring import injection_mask

D = 12


def _model(kind: str, homogenization: str, **kw) -> torch.nn.Module:
    spec = ModelSpec(kind=kind, homogenization=homogenization, depth=3, wx_inject=2, width=24, **kw)
    return build_model(spec, D, 100, seed=0).double()


def _x(n: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, D, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("outputs", [1, 3])
def test_radial_supportnet_is_positively_homogeneous(outputs):
    model = _model("supportnet", "radial", num_outputs=outputs)
    x = _x()
    for a in (0.1, 0.5, 2.0, 7.3):
        torch.testing.assert_close(model(a * x), a * model(x), rtol=1e-10, atol=1e-10)


def test_unhomogenized_supportnet_is_not_homogeneous():
    model = _model("supportnet", "none")
    x = _x()
    assert not torch.allclose(model(3.0 * x), 3.0 * model(x), rtol=1e-3)


@pytest.mark.parametrize("resnet", [False, True])
def test_radial_keynet_key_is_scale_invariant_and_score_homogeneous(resnet):
    model = _model("keynet", "radial", resnet=resnet)
    x = _x()
    scores, keys = model.predict(x)
    for a in (0.2, 3.0):
        s2, k2 = model.predict(a * x)
        torch.testing.assert_close(k2, keys, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(s2, a * scores, rtol=1e-10, atol=1e-10)


def test_keynet_score_is_inner_product_of_key_and_query():
    model = _model("keynet", "none", num_outputs=2)
    x = _x()
    scores, keys = model.predict(x)
    assert keys.shape == (16, 2, D) and scores.shape == (16, 2)
    torch.testing.assert_close(scores, torch.einsum("bcd,bd->bc", keys, x))


@pytest.mark.parametrize("rectifier", ["identity", "softplus"])
def test_euler_identity_for_homogenized_supportnet(rectifier):
    model = _model("supportnet", "radial", rectifier=rectifier, num_outputs=2)
    x = _x()
    scores, grads = model.predict(x)
    torch.testing.assert_close(torch.einsum("bcd,bd->bc", grads, x), scores, rtol=1e-9, atol=1e-9)


def _scramble(model: torch.nn.Module, seed: int = 0) -> None:
    """Emulate training: random (also negative) raw z-path weights and biases."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.5)


@pytest.mark.parametrize("rectifier", ["softplus", "relu"])
@pytest.mark.parametrize("homogenization", ["none"])
def test_convex_rectifiers_guarantee_midpoint_convexity(rectifier, homogenization):
    model = _model("supportnet", homogenization, rectifier=rectifier, num_outputs=2)
    _scramble(model)
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(2000, D, generator=gen, dtype=torch.float64) * 2
    b = torch.randn(2000, D, generator=gen, dtype=torch.float64) * 2
    with torch.no_grad():
        gap = 0.5 * (model(a) + model(b)) - model(0.5 * (a + b))
    assert gap.min() >= -1e-10


def test_identity_rectifier_guarantees_no_convexity_after_training_like_weights():
    """Only the guarantee is tested: with ρ = identity, scrambled weights may violate convexity (the official caveat)."""
    model = _model("supportnet", "none", rectifier="identity")
    _scramble(model)
    assert any((model.net.effective_weight(i) < 0).any() for i in range(model.net.depth))


def test_support_function_gradient_is_argmax_key():
    """s(x) = max_k ⟨x, k⟩ is the support function of K; its autodiff gradient is the maximising key."""
    gen = torch.Generator().manual_seed(0)
    keys = torch.randn(50, D, generator=gen, dtype=torch.float64)
    x = torch.randn(200, D, generator=gen, dtype=torch.float64, requires_grad=True)
    s = (x @ keys.T).max(dim=1).values
    (grad,) = torch.autograd.grad(s.sum(), x)
    torch.testing.assert_close(grad, keys[(x @ keys.T).argmax(dim=1)])
    # convex and positively 1-homogeneous
    with torch.no_grad():
        y = torch.randn(200, D, generator=gen, dtype=torch.float64)
        sy = (y @ keys.T).max(1).values
        mid = ((0.5 * (x + y)) @ keys.T).max(1).values
        assert (0.5 * (s + sy) - mid).min() >= -1e-12
        torch.testing.assert_close(((2.5 * x) @ keys.T).max(1).values, 2.5 * s)


def test_supportnet_gradient_matches_finite_differences():
    model = _model("supportnet", "radial")
    x = _x(4)
    _, grad = model.predict(x)
    eps = 1e-6
    for j in range(3):
        e = torch.zeros(D, dtype=torch.float64)
        e[j] = eps
        fd = (model(x + e) - model(x - e))[:, 0] / (2 * eps)
        torch.testing.assert_close(grad[:, 0, j], fd, rtol=1e-5, atol=1e-7)


def test_supportnet_training_graph_reaches_parameters():
    model = _model("supportnet", "radial")
    _, keys = model.predict(_x(), create_graph=True)
    keys.pow(2).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_injection_mask_official_depth8_k4():
    assert injection_mask(8, 4) == [False, False, False, True, False, False, False, True]
    assert injection_mask(3, True) == [True] * 3 and injection_mask(3, False) == [False] * 3
    with pytest.raises(ValueError):
        injection_mask(3, [True])


@pytest.mark.parametrize(
    "num_keys,dim,keynet_width,supportnet_width",
    [(2000, 32, 36, 36), (57638, 384, 716, 740), (1_000_000, 384, 3232, 3256)],
)
def test_width_solver_matches_official_widths(num_keys, dim, keynet_width, supportnet_width):
    assert resolve_width(ModelSpec(kind="keynet"), dim, num_keys) == keynet_width
    assert resolve_width(ModelSpec(kind="supportnet"), dim, num_keys) == supportnet_width


@pytest.mark.parametrize("kind", ["supportnet", "keynet"])
@pytest.mark.parametrize("fraction,num_keys,dim", [(0.2, 2000, 32), (0.05, 5000, 64), (0.2, 20000, 128), (0.01, 50000, 384)])
def test_exact_budget_rule_parameter_count_within_a_few_percent(kind, fraction, num_keys, dim):
    spec = ModelSpec(kind=kind, parameters_fraction=fraction, budget_rule="exact", depth=4, wx_inject=2)
    model = build_model(spec, dim, num_keys)
    real = parameter_count(model)
    assert real == expected_parameter_count(spec, dim, model.width)
    budget = parameter_budget(fraction, num_keys, dim)
    assert abs(real - budget) / budget < 0.03


@pytest.mark.parametrize("kind", ["supportnet", "keynet"])
@pytest.mark.parametrize("num_keys,dim", [(57638, 384), (1_000_000, 384)])
def test_official_budget_rule_within_a_few_percent_at_paper_sizes(kind, num_keys, dim):
    """The official rule leaves the output skip (d·K) uncounted: a few % over budget at paper scale."""
    spec = ModelSpec(kind=kind)
    width = resolve_width(spec, dim, num_keys)
    real = expected_parameter_count(spec, dim, width)
    budget = parameter_budget(0.2, num_keys, dim)
    assert abs(real - budget) / budget < 0.05


def test_official_parameter_count_example():
    model = build_model(ModelSpec(kind="keynet"), 32, 2000)
    assert parameter_count(model) == 13872
    assert solve_width(12800, 32, 32, 8, 4) == 36


def test_principled_init_matches_worked_examples():
    mean, var, bias = principled_moments(36, 0.0)
    assert math.isclose(mean, 0.0506, abs_tol=5e-4) and math.isclose(bias, 0.7265, abs_tol=5e-4)
    assert math.isclose(math.sqrt(var), 0.167, abs_tol=1e-3)
    mean1, var1, bias1 = principled_moments(36, 1.0)
    assert math.isclose(mean1**2, 1 / (36 * 37)) and math.isclose(var1, 1 / 72) and bias1 == 0.0
    model = build_model(ModelSpec(kind="supportnet", width=36, depth=8), 32, 2000)
    hidden = model.net.effective_weight(1).detach()
    assert (hidden > 0).all() and abs(float(hidden.mean()) - mean) < 0.1 * mean
    assert torch.allclose(model.net.z_biases[1].detach(), torch.full((36,), bias), atol=1e-4)
    assert float(model.net.z_biases[-1].detach().abs().max()) == 0.0


def test_hoedt_sign_flips_bias():
    model = build_model(ModelSpec(kind="supportnet", width=36, init_bias_sign=-1), 32, 2000)
    assert float(model.net.z_biases[0].detach().max()) < 0


def test_softplus_rectifier_stores_inverse_so_effective_weight_is_lognormal():
    a = build_model(ModelSpec(kind="supportnet", width=36, rectifier="identity"), 32, 2000, seed=5)
    b = build_model(ModelSpec(kind="supportnet", width=36, rectifier="softplus"), 32, 2000, seed=5)
    torch.testing.assert_close(a.net.effective_weight(2), b.net.effective_weight(2), rtol=1e-4, atol=1e-6)


def test_same_seed_same_weights_other_seed_other_weights():
    spec = ModelSpec(kind="keynet", width=16, depth=2)
    a, b, c = (build_model(spec, 8, 100, seed=s) for s in (1, 1, 2))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


@pytest.mark.parametrize("bad", [dict(kind="mlp"), dict(kind="keynet", homogenization="sphere"),
                                 dict(kind="keynet", parameters_fraction=0), dict(kind="keynet", depth=0),
                                 dict(kind="keynet", resnet=True, num_outputs=2)])
def test_invalid_specs_are_rejected(bad):
    with pytest.raises(ValueError):
        ModelSpec(**bad)


def test_unknown_spec_key_is_named():
    with pytest.raises(ValueError, match="widht"):
        ModelSpec.from_dict({"kind": "keynet", "widht": 3})
