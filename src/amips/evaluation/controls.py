"""Controls a learned MIPS model must beat: cheap query → key maps g(x) evaluated exactly like the models.

On unit-norm data the metrics are easy to clear by staying close to the query: the identity map g(x) = x finds
every exact top-1 (match rate 1) and has key error rn2 = 1 by definition, and a shrunk query c·x keeps match rate 1
while cutting rn2 (≈ 0.76 at c ≈ 0.5 on text embeddings). A learned model counts only where it beats all of these:

* ``identity``: g(x) = x.
* ``scalar``:   g(x) = c·x,  c = Σ_i ⟨x_i, t_i⟩ / Σ_i ‖x_i‖²  (the key-MSE minimiser, closed form).
* ``ridge``:    g(x) = x·W,  W = (XᵀX + λI)⁻¹ XᵀT  [d, d]; λ = r·tr(XᵀX)/d with r picked from a grid by the
  validation key MSE.
* ``blend``:    g(x) = s·(α·x + (1 − α)·x·W) with the ridge W; α ∈ [0, 1] picked from a grid by the validation
  **match rate** (ties: lower validation key MSE), then the scale s by least squares on the validation key MSE
  (a positive scale never changes the ranking). Least squares on key MSE alone would return the ridge map again,
  since the blend is itself linear in x.

Every control is fitted on the *fit rows* (training rows minus a validation split carved by source query, so noisy
copies of a validation query never sit in the fit rows); the validation rows pick λ, α and s; the test split is
never used for fitting. The score of a control is ⟨g(x), x⟩ (as KeyNet's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from amips.core.schema import section
from amips.data.augment import split_rows
from amips.data.io import InputError
from amips.evaluation.metrics import retrieval_metrics, target_ranks

@dataclass(frozen=True)
class ControlData:
    """Arrays a control is fitted on.

    keys [m, d]; fit_queries [n_f, d] and fit_targets [n_f, d] (the target *keys*); val_queries [n_v, d],
    val_targets [n_v, d] and val_target_idx [n_v] (indices into ``keys``, for the validation match rate).
    """

    keys: np.ndarray
    fit_queries: np.ndarray
    fit_targets: np.ndarray
    val_queries: np.ndarray
    val_targets: np.ndarray
    val_target_idx: np.ndarray


@dataclass(frozen=True)
class FittedControl:
    """A fitted control: ``predict`` maps queries [n, d] → predicted keys [n, d]; ``params`` records its fit."""

    name: str
    predict: Callable[[np.ndarray], np.ndarray]
    num_parameters: int
    params: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ControlOptions:
    """ridge_grid: the ratios r of λ = r·tr(XᵀX)/d tried; blend_steps: grid points of α in [0, 1]. Built by
    :func:`control_options` from the ``experiments.controls`` section (the schema's defaults for what it leaves
    out)."""

    ridge_grid: tuple[float, ...]
    blend_steps: int


def _key_mse(pred: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean(np.sum((np.asarray(pred, np.float64) - target) ** 2, axis=1)))


def _match_rate(pred: np.ndarray, keys: np.ndarray, target_idx: np.ndarray) -> float:
    return retrieval_metrics(target_ranks(pred, keys, target_idx), keys.shape[0])["match_rate"]


def scalar_coefficient(queries: np.ndarray, targets: np.ndarray) -> float:
    """argmin_c Σ_i ‖c·x_i − t_i‖² = Σ⟨x_i, t_i⟩ / Σ‖x_i‖² for queries/targets [n, d]."""
    x, t = np.asarray(queries, np.float64), np.asarray(targets, np.float64)
    return float(np.sum(x * t) / np.sum(x * x))


def ridge_map(queries: np.ndarray, targets: np.ndarray, lam: float) -> np.ndarray:
    """W = (XᵀX + λI)⁻¹ XᵀT [d, d] for X = queries [n, d], T = targets [n, d] (no intercept: g stays linear)."""
    x, t = np.asarray(queries, np.float64), np.asarray(targets, np.float64)
    gram = x.T @ x + lam * np.eye(x.shape[1])
    return np.linalg.solve(gram, x.T @ t)


def least_squares_scale(pred: np.ndarray, targets: np.ndarray) -> float:
    """argmin_s Σ_i ‖s·p_i − t_i‖² = Σ⟨p_i, t_i⟩ / Σ‖p_i‖² (1 for an all-zero prediction)."""
    p, t = np.asarray(pred, np.float64), np.asarray(targets, np.float64)
    denom = float(np.sum(p * p))
    return float(np.sum(p * t) / denom) if denom > 0 else 1.0


def _linear(weight: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    w32 = weight.astype(np.float32)
    return lambda x: np.asarray(x, np.float32) @ w32


def fit_identity(data: ControlData, options: ControlOptions) -> FittedControl:
    """g(x) = x (nothing to fit)."""
    return FittedControl("identity", lambda x: np.asarray(x, np.float32), 0)


def fit_scalar(data: ControlData, options: ControlOptions) -> FittedControl:
    """g(x) = c·x with c = :func:`scalar_coefficient` on the fit rows."""
    c = scalar_coefficient(data.fit_queries, data.fit_targets)
    return FittedControl("scalar", lambda x: (np.float32(c) * np.asarray(x, np.float32)), 1, {"c": c})


def fit_ridge(data: ControlData, options: ControlOptions) -> FittedControl:
    """g(x) = x·W with W = :func:`ridge_map` on the fit rows; λ = r·tr(XᵀX)/d, r ∈ ridge_grid by validation key MSE."""
    x = np.asarray(data.fit_queries, np.float64)
    unit = float(np.trace(x.T @ x)) / x.shape[1]
    best: tuple[float, float, np.ndarray] | None = None
    for ratio in options.ridge_grid:
        weight = ridge_map(data.fit_queries, data.fit_targets, ratio * unit)
        mse = _key_mse(data.val_queries @ weight, data.val_targets)
        if best is None or mse < best[1]:
            best = (ratio, mse, weight)
    ratio, mse, weight = best
    d = weight.shape[0]
    return FittedControl("ridge", _linear(weight), d * d,
                         {"lambda": ratio * unit, "lambda_ratio": ratio, "val_key_mse": mse})


def fit_blend(data: ControlData, options: ControlOptions) -> FittedControl:
    """g(x) = a·x + b·ridge(x), (a, b) = s·(α, 1 − α): α by validation match rate, s by validation least squares."""
    ridge = fit_ridge(data, options)
    xv = np.asarray(data.val_queries, np.float32)
    rv = ridge.predict(xv)
    best: tuple[float, float, float] | None = None  # (α, match rate, key MSE after rescaling)
    for alpha in np.linspace(0.0, 1.0, options.blend_steps):
        pred = alpha * xv + (1.0 - alpha) * rv
        match = _match_rate(pred, data.keys, data.val_target_idx)
        mse = _key_mse(least_squares_scale(pred, data.val_targets) * pred, data.val_targets)
        if best is None or match > best[1] or (match == best[1] and mse < best[2]):
            best = (float(alpha), match, mse)
    alpha, match, _ = best
    scale = least_squares_scale(alpha * xv + (1.0 - alpha) * rv, data.val_targets)
    a, b = scale * alpha, scale * (1.0 - alpha)

    def predict(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        return (np.float32(a) * x + np.float32(b) * ridge.predict(x)).astype(np.float32)

    return FittedControl("blend", predict, ridge.num_parameters + 2,
                         {"alpha": a, "beta": b, "blend_fraction": alpha, "val_match_rate": match,
                          "lambda": ridge.params["lambda"]})


CONTROLS: dict[str, Callable[[ControlData, ControlOptions], FittedControl]] = {
    "identity": fit_identity,
    "scalar": fit_scalar,
    "ridge": fit_ridge,
    "blend": fit_blend,
}


def fit_control(name: str, data: ControlData, options: ControlOptions | None = None) -> FittedControl:
    """Fit the control called ``name`` (one of :data:`CONTROLS`)."""
    if name not in CONTROLS:
        raise InputError(f"unknown control {name!r}; choose one of {sorted(CONTROLS)}")
    return CONTROLS[name](data, options or control_options({}))


def control_predictions(control: FittedControl, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores ⟨g(x), x⟩ [n, 1] and keys g(x) [n, 1, d] in the layout of a model's ``predict``."""
    pred = control.predict(queries)
    scores = np.einsum("nd,nd->n", pred, np.asarray(queries, np.float32))
    return scores[:, None], pred[:, None, :]


def control_data(keys: np.ndarray, queries: np.ndarray, target_idx: np.ndarray, source: np.ndarray,
                 validation_fraction: float, seed: int = 0) -> ControlData:
    """Split training rows (queries [N, d], top-1 targets [N], source query [N]) into fit and validation rows.

    The validation rows are a ``validation_fraction`` of the source queries (all copies of a source together).
    """
    if not 0.0 < validation_fraction < 1.0:
        raise InputError(f"controls validation_fraction must be in (0, 1), got {validation_fraction}")
    if np.unique(source).size < 2:
        raise InputError("controls need at least 2 distinct training source queries to carve a validation split")
    fit_rows, val_rows = split_rows(source, float(validation_fraction), seed, by_source=True)
    targets = keys[target_idx]
    return ControlData(keys, queries[fit_rows], targets[fit_rows], queries[val_rows], targets[val_rows],
                       target_idx[val_rows])


def control_options(cfg: dict[str, Any]) -> ControlOptions:
    """The options of an ``experiments.controls`` section (the schema's defaults for what it leaves out)."""
    cfg = section("experiments.controls", cfg, validate=False)
    return ControlOptions(tuple(float(r) for r in cfg["ridge_grid"]), int(cfg["blend_steps"]))


def control_record(control: FittedControl, metrics: dict[str, float], dataset: str, dim: int,
                   seed: int = 0) -> dict[str, Any]:
    """One row of the results tables: marked as a control (model 'control: <name>', kind 'control'); ``seed`` is
    the validation split's."""
    return {"dataset": dataset, "task": "mips", "model": f"control: {control.name}", "kind": "control",
            "homogenization": "none", "seed": seed, "num_parameters": control.num_parameters, "dim": dim,
            **{f"control_{k}": v for k, v in control.params.items()}, **metrics}
