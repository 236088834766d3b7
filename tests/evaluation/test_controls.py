"""Controls (amips.evaluation.controls): closed forms against numpy references, exact identity metrics, file-level stage."""

from __future__ import annotations

import json

import numpy as np
import pytest

from amips.data.augment import augment_queries, split_rows
from amips.evaluation.controls import (CONTROLS, control_data, control_options, control_predictions,
                            fit_control, least_squares_scale, ridge_map, scalar_coefficient)
from amips.pipeline.stages.controls import evaluate_controls
from amips.data.sets import gaussian_sphere, normalize_rows
from amips.core.fingerprint import array_digest
from amips.data.io import InputError
from amips.exact.labels import exact_topk
from amips.data.manifest import write_manifest
from amips.evaluation.metrics import evaluate_predictions


def _problem(n: int = 600, m: int = 300, d: int = 8, copies: int = 1, seed: int = 0):
    ds = gaussian_sphere(m, n, d, seed=seed)
    queries, source = augment_queries(ds.queries, copies, 0.02, seed)
    targets = exact_topk(queries, ds.keys, 1)[1][:, 0]
    return ds.keys, queries, targets, source


def test_scalar_coefficient_is_the_least_squares_minimiser():
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((50, 4)), rng.standard_normal((50, 4))
    reference = np.linalg.lstsq(x.reshape(-1, 1), t.reshape(-1), rcond=None)[0][0]
    assert scalar_coefficient(x, t) == pytest.approx(reference, rel=1e-10)
    c = scalar_coefficient(x, t)
    loss = lambda s: np.sum((s * x - t) ** 2)  # noqa: E731
    assert loss(c) <= min(loss(c - 1e-3), loss(c + 1e-3))


def test_ridge_map_matches_lstsq_and_its_penalised_normal_equations():
    rng = np.random.default_rng(1)
    x, t = rng.standard_normal((80, 5)), rng.standard_normal((80, 5))
    np.testing.assert_allclose(ridge_map(x, t, 0.0), np.linalg.lstsq(x, t, rcond=None)[0], rtol=1e-9, atol=1e-12)
    lam = 3.0  # ridge = least squares on X stacked with √λ·I (targets 0)
    x_aug = np.vstack([x, np.sqrt(lam) * np.eye(5)])
    t_aug = np.vstack([t, np.zeros((5, 5))])
    np.testing.assert_allclose(ridge_map(x, t, lam), np.linalg.lstsq(x_aug, t_aug, rcond=None)[0], rtol=1e-9,
                               atol=1e-12)


def test_least_squares_scale_matches_lstsq():
    rng = np.random.default_rng(2)
    p, t = rng.standard_normal((30, 3)), rng.standard_normal((30, 3))
    reference = np.linalg.lstsq(p.reshape(-1, 1), t.reshape(-1), rcond=None)[0][0]
    assert least_squares_scale(p, t) == pytest.approx(reference, rel=1e-10)


def test_ridge_recovers_a_known_linear_map():
    rng = np.random.default_rng(3)
    d = 6
    w_true = rng.standard_normal((d, d))
    x = rng.standard_normal((2000, d)).astype(np.float32)
    keys = (x @ w_true).astype(np.float32)  # each query's target is its own mapped key
    targets = np.arange(len(x))
    source = np.arange(len(x))
    data = control_data(keys, x, targets, source, 0.2, seed=0)
    ridge = fit_control("ridge", data, control_options({"ridge_grid": [0.0, 1e-2, 1.0]}))
    assert ridge.params["lambda_ratio"] == 0.0  # noise-free: no penalty fits best
    probe = rng.standard_normal((10, d)).astype(np.float32)
    np.testing.assert_allclose(ridge.predict(probe), probe @ w_true, rtol=1e-4, atol=1e-4)


def test_identity_control_has_match_rate_and_rn2_exactly_one():
    keys, queries, targets, source = _problem()
    data = control_data(keys, queries, targets, source, 0.1)
    scores, pred = control_predictions(fit_control("identity", data), queries)
    metrics = evaluate_predictions(queries, keys, scores, pred, targets[:, None])
    assert metrics["match_rate"] == 1.0 and metrics["key_error_rn2"] == 1.0


def test_scalar_control_keeps_every_match_and_shrinks_rn2():
    keys, queries, targets, source = _problem()
    data = control_data(keys, queries, targets, source, 0.1)
    control = fit_control("scalar", data)
    assert 0 < control.params["c"] < 1
    scores, pred = control_predictions(control, queries)
    metrics = evaluate_predictions(queries, keys, scores, pred, targets[:, None])
    assert metrics["match_rate"] == 1.0 and metrics["key_error_rn2"] < 1.0


def test_blend_picks_alpha_by_validation_match_rate_and_scale_by_least_squares():
    keys, queries, targets, source = _problem(n=800, m=200, d=6)
    data = control_data(keys, queries, targets, source, 0.25)
    blend = fit_control("blend", data, control_options({"blend_steps": 11}))
    ridge = fit_control("ridge", data)
    alpha = blend.params["blend_fraction"]
    # brute force over the same grid: the chosen α has the best validation match rate
    from amips.evaluation.metrics import retrieval_metrics, target_ranks

    rates = []
    for a in np.linspace(0, 1, 11):
        pred = a * data.val_queries + (1 - a) * ridge.predict(data.val_queries)
        rates.append(retrieval_metrics(target_ranks(pred, keys, data.val_target_idx), len(keys))["match_rate"])
    assert blend.params["val_match_rate"] == max(rates)
    assert rates[int(round(alpha * 10))] == max(rates)
    x = data.val_queries[:5]
    raw = alpha * x + (1 - alpha) * ridge.predict(x)
    direction = blend.predict(x) / np.linalg.norm(blend.predict(x), axis=1, keepdims=True)
    np.testing.assert_allclose(direction, normalize_rows(raw), atol=1e-5)
    scale = least_squares_scale(alpha * data.val_queries + (1 - alpha) * ridge.predict(data.val_queries),
                                data.val_targets)
    assert (blend.params["alpha"], blend.params["beta"]) == pytest.approx((scale * alpha, scale * (1 - alpha)))


def test_validation_rows_are_carved_by_source_and_exclude_test():
    keys, queries, targets, source = _problem(copies=2)
    data = control_data(keys, queries, targets, source, 0.2, seed=5)
    fit_rows, val_rows = split_rows(source, 0.2, 5, by_source=True)
    assert not set(source[fit_rows]) & set(source[val_rows])
    assert len(data.fit_queries) == len(fit_rows) and len(data.val_queries) == len(val_rows)
    with pytest.raises(InputError, match="validation_fraction"):
        control_data(keys, queries, targets, source, 1.0)


def test_unknown_control_is_an_input_error():
    keys, queries, targets, source = _problem()
    with pytest.raises(InputError, match="unknown control 'nope'"):
        fit_control("nope", control_data(keys, queries, targets, source, 0.1))


def _write_manifest(labels, keys) -> None:
    """The manifest of a labels folder written by hand (its .npy files), made from ``keys``."""
    write_manifest(labels, "labels", [p.name for p in labels.glob("*.npy")],
                   {"keys": array_digest(np.asarray(keys, np.float32))}, {})


def test_evaluate_controls_writes_one_marked_record_per_control(tmp_path):
    keys, queries, targets, source = _problem(copies=1)
    train, test = split_rows(source, 0.25, 0)
    np.save(tmp_path / "keys.npy", keys)
    labels = tmp_path / "labels"
    labels.mkdir()
    for name, rows in (("train", train), ("test", test)):
        np.save(labels / f"{name}_queries.npy", queries[rows])
        np.save(labels / f"{name}_targets.npy", targets[rows][:, None])
        np.save(labels / f"{name}_source.npy", source[rows])
    _write_manifest(labels, keys)
    out = {name: tmp_path / f"{name}.json" for name in CONTROLS}
    records = evaluate_controls(tmp_path / "keys.npy", labels, out, {"validation_fraction": 0.1}, dataset="toy")
    assert [r["model"] for r in records] == [f"control: {n}" for n in CONTROLS]
    for name, path in out.items():
        record = json.loads(path.read_text())
        assert record["kind"] == "control" and record["dataset"] == "toy" and record["task"] == "mips"
        assert record["num_test_queries"] == len(test)
    identity = json.loads(out["identity"].read_text())
    assert identity["match_rate"] == 1.0 and identity["key_error_rn2"] == 1.0
    np.save(labels / "test_targets.npy", np.zeros((len(test), 3), np.int64))
    with pytest.raises(InputError, match="test_targets.npy changed after it was written"):
        evaluate_controls(tmp_path / "keys.npy", labels, out, {})
    _write_manifest(labels, keys)
    with pytest.raises(InputError, match="plain-MIPS"):
        evaluate_controls(tmp_path / "keys.npy", labels, out, {})
