"""Every homogenization wrapper: positive homogeneity on random scales, Euler's identity, convexity where claimed,
no-op detection, and loading of model files written before the wrapper registry existed."""

from __future__ import annotations

import pytest
import torch
import yaml

from amips.pipeline.config import SCHEMA
from amips.models import HOMOGENIZATIONS, HOMOGENIZERS, ModelSpec, build_model, is_noop, parameter_count
from amips.models.factory import expected_parameter_count, load_model, save_model
from amips.models.homogenize import applies, build_homogenizer

D = 12
CASES = [(name, kind) for name in HOMOGENIZATIONS for kind in ("supportnet", "keynet") if applies(name, kind)]
HOMOGENEOUS = [(n, k) for n, k in CASES if HOMOGENIZERS[n].guarantee(k).homogeneous]


def _model(name: str, kind: str, dtype=torch.float32, **kw) -> torch.nn.Module:
    spec = ModelSpec(kind=kind, homogenization=name, depth=3, wx_inject=2, width=24, **kw)
    return build_model(spec, D, 100, seed=0).to(dtype)


def _scramble(model: torch.nn.Module, seed: int = 0) -> None:
    """Training-like weights: every raw parameter random (also negative), so guarantees must hold structurally."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.5)


def _x(n: int = 64, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(n, D, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _scales(n: int, seed: int = 1) -> torch.Tensor:
    """Random positive scales, log-uniform over [1e-2, 1e2], one per row [n, 1]."""
    gen = torch.Generator().manual_seed(seed)
    return torch.exp((torch.rand(n, 1, generator=gen) * 2 - 1) * 2 * torch.log(torch.tensor(10.0)))


def test_registry_lists_the_official_wrapper_and_the_schema_uses_it():
    assert "radial" in HOMOGENIZATIONS and ModelSpec(kind="supportnet").homogenization == "radial"
    schema = yaml.safe_load(SCHEMA.read_text())
    sweep_enum = schema["$defs"]["sweep_block"]["properties"]["homogenizations"]["items"]["enum"]
    router_enum = schema["properties"]["experiments"]["properties"]["router"]["properties"]["homogenizations"]
    assert sweep_enum == list(HOMOGENIZATIONS) == router_enum["items"]["enum"]


@pytest.mark.parametrize("name,kind", HOMOGENEOUS)
def test_homogeneous_wrappers_are_homogeneous_to_1e5_relative(name, kind):
    """SupportNet f(tx) = t f(x); KeyNet g(tx) = g(x) and score(tx) = t score(x), for random t ∈ [1e-2, 1e2]."""
    model = _model(name, kind, num_outputs=2 if kind == "supportnet" else 1)
    _scramble(model)
    x, t = _x(), _scales(64)
    scores, keys = (v.detach() for v in model.predict(x))
    scores_t, keys_t = model.predict(t * x)
    torch.testing.assert_close(scores_t, t * scores, rtol=1e-5, atol=1e-6 * float(scores.abs().max()))
    # the key is 0-homogeneous: g directly (KeyNet), ∇f for a 1-homogeneous f (SupportNet)
    torch.testing.assert_close(keys_t, keys, rtol=1e-5, atol=1e-6 * float(keys.abs().max()))


@pytest.mark.parametrize("name,kind", [c for c in HOMOGENEOUS if c[1] == "supportnet"])
def test_euler_identity_for_homogeneous_supportnets(name, kind):
    model = _model(name, kind, dtype=torch.float64, num_outputs=2)
    _scramble(model)
    x = _x(dtype=torch.float64)
    scores, grads = model.predict(x)
    torch.testing.assert_close(torch.einsum("bcd,bd->bc", grads, x), scores, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name,kind", [c for c in HOMOGENEOUS if c[1] == "keynet"])
def test_euler_identity_for_homogeneous_keynet_scores(name, kind):
    """The KeyNet score s(x) = ⟨g(x), x⟩ with a 0-homogeneous g is 1-homogeneous: ⟨∇s(x), x⟩ = s(x)."""
    model = _model(name, kind, dtype=torch.float64, resnet=True)
    _scramble(model)
    x = _x(dtype=torch.float64).requires_grad_(True)
    scores = model.predict(x)[0][:, 0]
    (grad,) = torch.autograd.grad(scores.sum(), x)
    torch.testing.assert_close((grad * x).sum(dim=1), scores.detach(), rtol=1e-9, atol=1e-9)


def test_unhomogenized_models_are_not_homogeneous():
    for kind in ("supportnet", "keynet"):
        model = _model("none", kind)
        x = _x()
        assert not torch.allclose(model.predict(3.0 * x)[0], 3.0 * model.predict(x)[0], rtol=1e-3)


def _midpoint_gap(model: torch.nn.Module, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(4000, D, generator=gen, dtype=torch.float64) * 2
    b = torch.randn(4000, D, generator=gen, dtype=torch.float64) * 2
    with torch.no_grad():
        return 0.5 * (model(a) + model(b)) - model(0.5 * (a + b))


def test_homogeneous_icnn_is_convex_for_any_weights_and_a_support_function():
    """Convex (midpoint) with scrambled weights even with spec rectifier 'identity'; f is 1-homogeneous and convex,
    hence sublinear: f(a + b) <= f(a) + f(b)."""
    model = _model("homogeneous_icnn", "supportnet", dtype=torch.float64, num_outputs=2)
    _scramble(model)
    assert _midpoint_gap(model).min() >= -1e-10
    gen = torch.Generator().manual_seed(2)
    a, b = (torch.randn(2000, D, generator=gen, dtype=torch.float64) for _ in range(2))
    with torch.no_grad():
        assert (model(a) + model(b) - model(a + b)).min() >= -1e-10
    assert model.net.first.bias is None and model.net.z_biases is None


@pytest.mark.parametrize("name", ["radial", "gauge"])
def test_radial_and_gauge_do_not_claim_convexity_and_can_break_it(name):
    """Their guarantee says 'not kept': the convex inner map h(u) = u₁² becomes x₁²/‖x‖ (gauge at init = radial),
    which is concave along x = (1, t) at t = 0."""
    assert HOMOGENIZERS[name].guarantee("supportnet").convexity == "not kept"
    wrapper = build_homogenizer(name, "supportnet", 2, torch.Generator().manual_seed(0)).double()

    def inner(u: torch.Tensor) -> torch.Tensor:
        return u[:, :1] ** 2

    a, b = torch.tensor([[1.0, -0.5]], dtype=torch.float64), torch.tensor([[1.0, 0.5]], dtype=torch.float64)
    with torch.no_grad():
        gap = 0.5 * (wrapper(inner, a) + wrapper(inner, b)) - wrapper(inner, 0.5 * (a + b))
    assert float(gap) < -0.05


def test_none_keeps_convexity_of_a_convex_icnn():
    model = _model("none", "supportnet", dtype=torch.float64, rectifier="softplus")
    _scramble(model)
    assert HOMOGENIZERS["none"].guarantee("supportnet").convexity == "kept"
    assert _midpoint_gap(model).min() >= -1e-10


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True)


@pytest.mark.parametrize("resnet", [False, True])
def test_radial_keynet_is_a_noop_on_unit_queries_and_the_check_says_so(resnet):
    base, radial = _model("none", "keynet", resnet=resnet), _model("radial", "keynet", resnet=resnet)
    radial.load_state_dict(base.state_dict())
    u = _unit(_x())
    torch.testing.assert_close(radial.predict(u)[1], base.predict(u)[1])
    assert is_noop("radial", "keynet", unit_norm_queries=True)
    assert not is_noop("radial", "keynet", unit_norm_queries=False)
    assert not torch.allclose(radial.predict(3 * u)[1], base.predict(3 * u)[1])


@pytest.mark.parametrize("name,kind", [c for c in CASES if c != ("radial", "keynet") and c[0] != "none"])
def test_other_wrappers_change_the_function_on_unit_queries(name, kind):
    """Unit-norm queries, the raw network given every inner weight the wrapped model has: keys still differ."""
    base, wrapped = _model("none", kind), _model(name, kind)
    _scramble(wrapped)
    base.load_state_dict(wrapped.state_dict(), strict=False)
    u = _unit(_x())
    assert not torch.allclose(wrapped.predict(u)[1], base.predict(u)[1], atol=1e-4)
    assert not is_noop(name, kind, unit_norm_queries=True)


def test_gauge_starts_at_the_radial_wrapper_and_has_its_own_parameters():
    radial, gauge = _model("radial", "supportnet"), _model("gauge", "supportnet")
    gauge.load_state_dict(radial.state_dict(), strict=False)
    x = _x()
    torch.testing.assert_close(gauge.predict(x)[1], radial.predict(x)[1])
    assert parameter_count(gauge) == parameter_count(radial) + 2 * D * 8
    assert parameter_count(gauge) == expected_parameter_count(gauge.spec, D, gauge.width)


def test_homogeneous_icnn_is_supportnet_only():
    with pytest.raises(ValueError, match="supportnet"):
        ModelSpec(kind="keynet", homogenization="homogeneous_icnn")


@pytest.mark.parametrize("name,kind", CASES)
def test_every_wrapper_round_trips_through_a_model_file(tmp_path, name, kind):
    model = _model(name, kind)
    _scramble(model)
    save_model(tmp_path / "m.pt", model, num_keys=100)
    loaded = load_model(tmp_path / "m.pt", dim=D)
    x = _x()
    torch.testing.assert_close(loaded.predict(x)[1], model.predict(x)[1])


def test_model_files_from_before_the_registry_still_load(tmp_path):
    """Older files store homogenization radial|none and no 'activation' field in their spec."""
    for name in ("radial", "none"):
        model = _model(name, "supportnet")
        payload_spec = {k: v for k, v in model.spec.to_dict().items() if k != "activation"}
        torch.save({"format": "amips-model-v1", "spec": payload_spec, "dim": D, "width": model.width,
                    "num_keys": 100, "state_dict": model.state_dict()}, tmp_path / f"{name}.pt")
        loaded = load_model(tmp_path / f"{name}.pt", dim=D)
        assert loaded.spec.homogenization == name
        torch.testing.assert_close(loaded.predict(_x())[0], model.predict(_x())[0])
