"""The ellipsoid list router (amips.routing.ellipsoid): support function, fit, cost, selection."""

from __future__ import annotations

import numpy as np
import pytest

from amips.routing.ellipsoid import ListEllipsoids, fit_ellipsoids, fit_flops, mean_coverage
from amips.routing.list_routers import RouterData, fit_router
from amips.data.io import InputError
from amips.index.ivf import build_ivf
from amips.exact.labels import exact_topk


def test_scores_are_the_support_function_of_the_ellipsoid():
    """h_E(x) = ⟨μ, x⟩ + √(xᵀΣx) = max over the ellipsoid's boundary points μ + Σ^{1/2} u, ‖u‖ = 1 (d = 3; rank 2
    plus the residual variance on the third axis). A list size n = e^{1/2} makes the spread factor √(2 ln n) = 1."""
    rng = np.random.default_rng(0)
    mean = np.array([0.3, -0.2, 0.5])
    basis, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    variances = np.array([0.5, 0.2, 0.05])
    ellipsoid = ListEllipsoids(mean[None].astype(np.float32), basis.T[None, :2].astype(np.float32),
                               variances[None, :2].astype(np.float32), np.array([0.05], np.float32),
                               np.array([np.exp(0.5)]))
    np.testing.assert_allclose(ellipsoid.spread_factor(1.0), [1.0])
    queries = rng.normal(size=(20, 3))
    u = rng.normal(size=(200_000, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    boundary = mean + (u * np.sqrt(variances)) @ basis.T
    np.testing.assert_allclose(ellipsoid.scores(queries, 1.0)[:, 0], (queries @ boundary.T).max(axis=1), rtol=0,
                               atol=2e-3)
    single = ListEllipsoids(ellipsoid.means, ellipsoid.directions, ellipsoid.variances, ellipsoid.residual,
                            np.array([1]))
    np.testing.assert_allclose(single.scores(queries, 1.0)[:, 0], queries @ mean, rtol=1e-5, atol=1e-6)  # no spread


def test_fit_recovers_mean_directions_and_residual():
    rng = np.random.default_rng(1)
    keys = np.concatenate([rng.normal(size=(400, 6)) * [3.0, 1.0, 0.5, 0.5, 0.5, 0.5] + 5.0,
                           rng.normal(size=(300, 6)) * 0.1 - 1.0]).astype(np.float32)
    key_list = np.repeat([0, 1], [400, 300])
    fitted = fit_ellipsoids(keys, key_list, 2, rank=2)
    np.testing.assert_allclose(fitted.means[0], 5.0, atol=0.3)
    assert abs(abs(fitted.directions[0, 0, 0]) - 1) < 0.02  # the widest axis first
    np.testing.assert_allclose(fitted.variances[0], [9.0, 1.0], rtol=0.2)
    np.testing.assert_allclose(fitted.residual[0], 0.25, rtol=0.2)  # mean variance of the other 4 directions
    assert list(fitted.sizes) == [400, 300]
    assert fitted.flops() == 2 * 6 * 2 * 3 + 2 * 6 + 2 * (3 * 2 + 5)
    assert fit_flops(fitted, 3, 10) == 4 * 400 * 6 * 6 + 4 * 300 * 6 * 6 + 10 * (fitted.flops() + 3 * 2 * 2)


def test_rank_zero_without_spread_is_routing_on_the_list_means():
    rng = np.random.default_rng(2)
    keys = rng.normal(size=(500, 8)).astype(np.float32)
    key_list = rng.integers(0, 5, size=500)
    fitted = fit_ellipsoids(keys, key_list, 5, rank=0)
    queries = rng.normal(size=(30, 8)).astype(np.float32)
    means = np.stack([keys[key_list == c].mean(axis=0) for c in range(5)])
    np.testing.assert_allclose(fitted.scores(queries, 0.0), queries @ means.T, rtol=1e-5, atol=1e-5)
    assert mean_coverage(queries @ means.T, (queries @ means.T).argmax(axis=1), (1, 2)) == 1.0


def test_bad_settings_and_empty_lists_are_named():
    keys = np.ones((10, 4), np.float32)
    with pytest.raises(InputError, match=r"ellipsoid.rank must be in \[0, 4\)"):
        fit_ellipsoids(keys, np.zeros(10, np.int64), 1, rank=4)
    with pytest.raises(InputError, match="IVF list 1 has no keys"):
        fit_ellipsoids(keys, np.zeros(10, np.int64), 2, rank=1)


def test_the_router_picks_its_scale_on_training_queries_and_beats_centroids_on_unequal_spreads():
    """Six clusters of equal size and very different spreads: the best key often sits in a wide list whose centroid
    is not the closest, which centroid routing cannot see and the spread term does."""
    rng = np.random.default_rng(0)
    dim, lists = 8, 6
    centres = rng.normal(size=(lists, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    keys = np.concatenate([c + s * rng.normal(size=(500, dim)) for c, s in
                           zip(centres, [0.05, 0.1, 0.2, 0.3, 0.45, 0.6])]).astype(np.float32)
    queries = rng.normal(size=(2000, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    _, top = exact_topk(queries, keys, 1)
    ivf = build_ivf(keys, lists, seed=0)
    data = RouterData(keys, ivf, queries[:1000], top[:1000, 0], np.empty((1000, 0), np.int64))
    router = fit_router("ellipsoid", data, {"rank": 2, "scales": [0.0, 0.5, 1.0]}, 0, None)
    assert router.info["scale"] == 0.5 and router.flops == 2 * dim * lists * 3 + 2 * dim + lists * 11
    truth = ivf.key_list[top[1000:, 0]]
    centroid = fit_router("centroid", data, {}, 0, None)
    assert (mean_coverage(router.scores(queries[1000:]), truth, (1, 2))
            > mean_coverage(centroid.scores(queries[1000:]), truth, (1, 2)) + 0.05)
    with pytest.raises(InputError, match="ellipsoid.scales must be a non-empty list"):
        fit_router("ellipsoid", data, {"scales": []}, 0, None)
