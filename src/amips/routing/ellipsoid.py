"""The ellipsoid router: each IVF list's support function, approximated by that of an ellipsoid fitted to its keys
(an amips extension; no training, off by default).

A list's routing target is its support function s_l(x) = max_{k ∈ list l} ⟨x, k⟩ (the paper's view of MIPS). The
support function of the ellipsoid E = {μ + Σ^{1/2} u : ‖u‖ ≤ 1} is h_E(x) = ⟨μ, x⟩ + √(xᵀ Σ x). Fitting μ_l to the
list's mean and Σ_l to its covariance (top-r principal directions U_l [r, d] with variances λ_l [r], and the mean
remaining variance σ²_l on the other d − r directions), and scaling the spread by a_l = c·√(2 ln n_l) — the
expected maximum of n_l standard normals, since the best of n_l keys sits that far out along x — gives

    ŝ_l(x) = ⟨μ_l, x⟩ + a_l · √( Σ_j λ_lj ⟨u_lj, x⟩² + σ²_l (‖x‖² − Σ_j ⟨u_lj, x⟩²)₊ ).

r = 0 with c = 0 is centroid routing on the list means. The one free scalar c is chosen from a grid on the
training queries (mean routing coverage over p = 1, 2, 4, 8, 16). Cost per query (FLOPs): 2·d·C·(1 + r) for the
means and projections, 2·d for ‖x‖², C·(3·r + 5) for the per-list sums, square root and scaling.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from amips.core.schema import section
from amips.data.io import InputError
from amips.routing.router_data import FittedRouter, RouterData

SELECTION_PROBES = (1, 2, 4, 8, 16)
SELECTION_ROWS = 4096


@dataclass(frozen=True)
class ListEllipsoids:
    """Per-list ellipsoids: means [C, d], principal directions [C, r, d], their variances [C, r], the residual
    variance [C] and the list sizes [C]."""

    means: np.ndarray
    directions: np.ndarray
    variances: np.ndarray
    residual: np.ndarray
    sizes: np.ndarray

    @property
    def rank(self) -> int:
        return int(self.directions.shape[1])

    def flops(self) -> float:
        """FLOPs of :meth:`scores` per query (see the module docstring)."""
        nlist, dim = self.means.shape
        return float(2 * dim * nlist * (1 + self.rank) + 2 * dim + nlist * (3 * self.rank + 5))

    def spread_factor(self, scale: float) -> np.ndarray:
        """a_l = scale · √(2 ln n_l) [C] (lists of one key: 0, they have no spread)."""
        return scale * np.sqrt(2 * np.log(np.maximum(self.sizes, 1)))

    def parts(self, queries: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """(⟨μ_l, x⟩, spread_l(x)) [n, C] each for queries [n, d], spread = √(Σ_j λ_lj ⟨u_lj, x⟩² + σ²_l (‖x‖² −
        Σ_j ⟨u_lj, x⟩²)₊), in row chunks (the projections of one chunk, chunk × C × r, are the peak)."""
        nlist, rank, dim = self.directions.shape
        flat = self.directions.reshape(nlist * rank, dim)
        base = np.empty((queries.shape[0], nlist), np.float32)
        spread = np.empty_like(base)
        for start in range(0, queries.shape[0], chunk):
            x = np.ascontiguousarray(queries[start: start + chunk], np.float32)
            proj2 = ((x @ flat.T) ** 2).reshape(len(x), nlist, rank)
            along = np.einsum("ncr,cr->nc", proj2, self.variances)
            rest = np.maximum((x * x).sum(axis=1, keepdims=True) - proj2.sum(axis=2), 0.0) * self.residual
            base[start: start + chunk] = x @ self.means.T
            spread[start: start + chunk] = np.sqrt(along + rest)
        return base, spread

    def combine(self, base: np.ndarray, spread: np.ndarray, scale: float) -> np.ndarray:
        """ŝ = base + a_l(scale) · spread [n, C] from :meth:`parts`."""
        return base + self.spread_factor(scale).astype(np.float32) * spread

    def scores(self, queries: np.ndarray, scale: float) -> np.ndarray:
        """ŝ [n, C] for queries [n, d]."""
        return self.combine(*self.parts(queries), scale)


def fit_ellipsoids(keys: np.ndarray, key_list: np.ndarray, nlist: int, rank: int) -> ListEllipsoids:
    """Mean, top-``rank`` principal directions and variances, and residual variance of each list's keys [m, d]
    (``key_list`` [m]: the list of every key). A list with fewer keys than ``rank`` gets zero variance on the
    directions it lacks; an empty list is an error."""
    dim = keys.shape[1]
    if not 0 <= rank < dim:
        raise InputError(f"list_router.ellipsoid.rank must be in [0, {dim}) (the dimension), got {rank}")
    means = np.zeros((nlist, dim), np.float32)
    directions = np.zeros((nlist, rank, dim), np.float32)
    variances = np.zeros((nlist, rank), np.float32)
    residual = np.zeros(nlist, np.float32)
    sizes = np.bincount(key_list, minlength=nlist)
    for lst in range(nlist):
        members = np.asarray(keys[key_list == lst], np.float64)
        if members.shape[0] == 0:
            raise InputError(f"IVF list {lst} has no keys; the ellipsoid router needs every list non-empty")
        mean = members.mean(axis=0)
        _, singular, vt = np.linalg.svd(members - mean, full_matrices=False)
        spectrum = singular ** 2 / members.shape[0]
        kept = min(rank, spectrum.size)
        means[lst] = mean
        directions[lst, :kept] = vt[:kept]
        variances[lst, :kept] = spectrum[:kept]
        residual[lst] = max(float(spectrum.sum() - spectrum[:kept].sum()), 0.0) / (dim - rank)
    return ListEllipsoids(means, directions, variances, residual, sizes)


def mean_coverage(scores: np.ndarray, true_list: np.ndarray, probes: tuple[int, ...] = SELECTION_PROBES) -> float:
    """Mean over p of the fraction of rows whose true list [n] is among the p best-scored lists of ``scores``."""
    from amips.routing.routed import order_from_scores

    top = order_from_scores(scores)[:, : max(probes)]
    return float(np.mean([(top[:, :p] == true_list[:, None]).any(axis=1).mean() for p in probes
                          if p <= scores.shape[1]]))


def fit_ellipsoid(data: RouterData, cfg: dict[str, Any], seed: int, workdir: Path | None) -> FittedRouter:
    """The ``ellipsoid`` list router (``cfg``: rank, scales): fitted to the keys of each list, its scale chosen on
    up to 4096 training queries (a seeded subset)."""
    cfg = section("experiments.list_router.ellipsoid", cfg, validate=False)
    rank = int(cfg["rank"])
    scales = [float(s) for s in cfg["scales"]]
    if not scales or any(not np.isfinite(s) or s < 0 for s in scales):
        raise InputError(f"list_router.ellipsoid.scales must be a non-empty list of numbers >= 0, got {scales}")
    t0 = time.perf_counter()
    ellipsoids = fit_ellipsoids(data.keys, data.ivf.key_list, data.ivf.nlist, rank)
    rows = np.random.default_rng(seed).permutation(len(data.queries))[:SELECTION_ROWS]
    parts, true_list = ellipsoids.parts(data.queries[rows]), data.oracle_list[rows]
    coverage = {s: mean_coverage(ellipsoids.combine(*parts, s), true_list) for s in scales}
    scale = max(scales, key=lambda s: (coverage[s], -s))  # ties: the smaller spread
    seconds = time.perf_counter() - t0
    return FittedRouter(f"ellipsoid rank {rank}", lambda x: ellipsoids.scores(x, scale), ellipsoids.flops(),
                        fit_flops(ellipsoids, len(scales), len(rows)), seconds,
                        {"rank": rank, "scale": scale, "selection_coverage": coverage[scale]})


def fit_flops(ellipsoids: ListEllipsoids, num_scales: int, num_rows: int) -> float:
    """Fitting cost: a thin SVD per list (≈ 4·n_l·d·min(n_l, d)), scoring ``num_rows`` queries once, and per scale
    the combination base + a_l · spread (2·C per row)."""
    nlist, dim = ellipsoids.means.shape
    svd = float(sum(4 * int(n) * dim * min(int(n), dim) for n in ellipsoids.sizes))
    return svd + num_rows * (ellipsoids.flops() + num_scales * 2 * nlist)
