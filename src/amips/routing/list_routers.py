"""Routers over the IVF index's own lists, behind a registry (name → fit function).

A router maps queries x [n, d] to list scores [n, nlist]; IVF probes the p best-scored lists and ranks their keys
with x (:mod:`amips.routing.routed`). Training data: queries [N, d] and, per query, the best key of every list
``list_top1`` [N, nlist] (global key indices; exact labels, see :func:`list_targets`).

* ``centroid`` — plain IVF: ⟨x, μ_l⟩; nothing to train; 2·d·nlist FLOPs.
* ``ltr`` — the learned linear router of Vecchiato, Lucchese, Nardini, Bruch (SIGIR 2024): scores W x with
  W ∈ R^{nlist×d} initialised at the centroids, trained with softmax cross-entropy on each query's oracle list
  (the list that holds its exact top-1); 2·d·nlist FLOPs, as plain IVF.
* ``amips`` — a multi-output AMIPS model (SupportNet or KeyNet, amips.models) whose output l regresses the list's
  best inner product max_{k ∈ list l} ⟨x, k⟩ (the paper's router, trained by amips.training.train on the per-list targets);
  its cost is the network's forward (KeyNet: + 2·d per output), which grows with nlist. Trained on the scores
  only (key_weight 0) it costs one forward and backward per sample.
* ``ellipsoid`` — each list's support function approximated by that of an ellipsoid fitted to its keys (mean +
  top-r principal directions; an amips extension, untrained: :mod:`amips.routing.ellipsoid`);
  2·d·nlist·(1 + r) FLOPs and a little more.
* ``residual`` — plain IVF's scores plus a narrow learned correction (an amips extension):
  s_l(x) = ⟨x, μ_l⟩ + (U relu(V x))_l with V ∈ R^{r×d}, U ∈ R^{nlist×r}, U₀ = 0 (so it starts as plain IVF),
  trained by MSE on each list's best inner product (the regression target of ``amips``, which generalises where
  cross-entropy over lists overfits); 2·d·nlist + 2·r·(d + nlist) FLOPs — the coarse step plus a fraction of one
  list scan at r ≪ d, where the ``amips`` router costs several lists.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from amips.core.schema import section
from amips.routing.ellipsoid import fit_ellipsoid
from amips.exact.flops import exact_search_flops, query_flops, training_flops
from amips.index.ivf import IvfFlatIndex
from amips.routing.router_data import FittedRouter, RouterData

log = logging.getLogger("amips.routing.list_routers")


def list_targets(queries: np.ndarray, keys: np.ndarray, ivf: IvfFlatIndex,
                 device: str = "cpu") -> tuple[np.ndarray, dict[str, float]]:
    """Exact best key of every IVF list for each query, and its cost: ([N, nlist] int64, {label_seconds,
    label_flops}). One pass over all keys (2·N·m·d FLOPs; chunked BLAS on the CPU, torch on ``cuda``); an empty
    list is an error (amips.exact.labels.per_cluster_top1)."""
    from amips.exact.labels import per_cluster_top1

    t0 = time.perf_counter()
    targets = per_cluster_top1(queries, keys, ivf.key_list, ivf.nlist, device=device)
    return targets, {"label_seconds": time.perf_counter() - t0, "label_flops": label_flops(len(queries), *keys.shape)}


def fit_centroid(data: RouterData, cfg: dict[str, Any], seed: int, workdir: Path) -> FittedRouter:
    """Plain IVF's coarse step (no training)."""
    from amips.routing.routed import centroids_of

    centroids = centroids_of(data.ivf)
    return FittedRouter("centroid", lambda x: np.asarray(x, np.float32) @ centroids.T,
                        float(2 * centroids.size))


def train_ltr(queries: np.ndarray, oracle: np.ndarray, centroids: np.ndarray, steps: int, lr: float, batch_size: int,
              seed: int) -> tuple[np.ndarray, list[float]]:
    """Linear router W [C, d] from W₀ = centroids by Adam on CE(softmax(W x), oracle list); returns (W, losses of
    the full training set before training and after each tenth of the steps)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(np.ascontiguousarray(queries, np.float32))
    y = torch.from_numpy(np.asarray(oracle, np.int64))
    weight = torch.nn.Parameter(torch.from_numpy(np.array(centroids, np.float32)))
    opt = torch.optim.Adam([weight], lr=lr)
    loss_fn = torch.nn.functional.cross_entropy

    def full_loss() -> float:
        with torch.no_grad():
            return float(loss_fn(x @ weight.T, y))

    losses = [full_loss()]
    for step in range(steps):
        rows = torch.randint(0, x.shape[0], (min(batch_size, x.shape[0]),), generator=gen)
        opt.zero_grad()
        loss_fn(x[rows] @ weight.T, y[rows]).backward()
        opt.step()
        if (step + 1) % max(1, steps // 10) == 0:
            losses.append(full_loss())
    return weight.detach().numpy(), losses


def fit_ltr(data: RouterData, cfg: dict[str, Any], seed: int, workdir: Path) -> FittedRouter:
    """The linear learning-to-rank router (``cfg``: steps, lr, batch_size)."""
    from amips.routing.routed import centroids_of

    cfg = section("experiments.list_router.ltr", cfg, validate=False)
    centroids = centroids_of(data.ivf)
    steps, batch = int(cfg["steps"]), int(cfg["batch_size"])
    t0 = time.perf_counter()
    weight, losses = train_ltr(data.queries, data.oracle_list, centroids, steps, float(cfg["lr"]), batch, seed)
    seconds = time.perf_counter() - t0
    log.info("LTR router: CE %.4f → %.4f in %d steps (%.1f s)", losses[0], losses[-1], steps, seconds)
    return FittedRouter("ltr", lambda x: np.asarray(x, np.float32) @ weight.T, float(2 * weight.size),
                        float(training_flops(2 * weight.size, steps, batch)), seconds,
                        {"ce_initial": losses[0], "ce_final": losses[-1]})


def model_scores(model, queries: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """A multi-output model's scores [n, C] (forward only: a router needs no key)."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(queries), batch_size):
            out.append(model(torch.from_numpy(np.ascontiguousarray(queries[start: start + batch_size], np.float32))))
    return torch.cat(out).numpy()


def fit_amips(data: RouterData, cfg: dict[str, Any], seed: int, workdir: Path) -> FittedRouter:
    """A multi-output AMIPS model on the per-list targets (``cfg``: model — ModelSpec fields, training — TrainSpec
    fields); the weights of the last step are kept (no validation split here). Saved to ``workdir/model.pt``;
    training resumes from ``workdir/checkpoint.pt`` (a stale one is discarded), which the caller deletes."""
    from amips.models import ModelSpec
    from amips.training.runs import train_arrays
    from amips.training.train import TrainSpec

    model_spec = ModelSpec(**{k: v for k, v in cfg["model"].items() if k != "training"})
    train_spec = TrainSpec.from_dict({**cfg["training"], "select": "last", "eval_every": 0,
                                      "checkpoint_every": 0})
    info, _ = train_arrays(data.keys, data.queries, data.list_top1, workdir / "model.pt", workdir / "checkpoint.pt",
                           model_spec, train_spec, seed, on_stale="restart")
    from amips.models import load_model

    model = load_model(workdir / "model.pt", data.keys.shape[1])
    per_query = float(query_flops(model, with_key=False))  # scores only (a KeyNet's scores need its keys)
    # a score-only objective trains on the forward alone (amips.training.train); otherwise on the predicted keys too
    trained = query_flops(model, with_key=train_spec.key_weight > 0)
    return FittedRouter(f"{model.spec.kind}", lambda x: model_scores(model, x), per_query,
                        float(training_flops(trained, train_spec.steps, train_spec.batch_size)),
                        float(info["train_seconds"]),
                        {"width": model.width, "num_parameters": info["num_parameters"]})


def list_best_scores(queries: np.ndarray, keys: np.ndarray, list_top1: np.ndarray, chunk: int = 512) -> np.ndarray:
    """⟨x, k*_l(x)⟩ [N, nlist] for queries [N, d] and the best key of every list [N, nlist], in row chunks (the
    gathered keys of all rows at once, N × nlist × d, would not fit in memory)."""
    out = np.empty(list_top1.shape, np.float32)
    for start in range(0, queries.shape[0], chunk):
        rows = slice(start, start + chunk)
        out[rows] = np.einsum("nd,ncd->nc", queries[rows], keys[list_top1[rows]])
    return out


class ResidualRouter(torch.nn.Module):
    """Scores x μᵀ + relu(x Vᵀ) Uᵀ [n, nlist] for x [n, d]; centroids μ [nlist, d] fixed, V [r, d], U [nlist, r]."""

    def __init__(self, centroids: np.ndarray, rank: int, seed: int) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        nlist, dim = centroids.shape
        self.register_buffer("centroids", torch.from_numpy(np.array(centroids, np.float32)))
        self.down = torch.nn.Parameter(torch.randn(rank, dim, generator=gen) / dim ** 0.5)
        self.up = torch.nn.Parameter(torch.zeros(nlist, rank))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.centroids.T + torch.relu(x @ self.down.T) @ self.up.T

    @property
    def flops(self) -> float:
        return float(2 * (self.centroids.numel() + self.down.numel() + self.up.numel()))


def train_residual(router: ResidualRouter, queries: np.ndarray, list_scores: np.ndarray, steps: int, lr: float,
                   batch_size: int, seed: int) -> list[float]:
    """Adam on MSE(router(x), list_scores [N, nlist]) over seeded minibatches; returns the full-set MSE before
    training and after each tenth of the steps."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(np.ascontiguousarray(queries, np.float32))
    y = torch.from_numpy(np.ascontiguousarray(list_scores, np.float32))
    opt = torch.optim.Adam(router.parameters(), lr=lr)

    def full_loss() -> float:
        with torch.no_grad():
            return float(sum(((router(x[i:i + 8192]) - y[i:i + 8192]) ** 2).sum() for i in range(0, len(x), 8192))
                         / y.numel())

    losses = [full_loss()]
    for step in range(steps):
        rows = torch.randint(0, x.shape[0], (min(batch_size, x.shape[0]),), generator=gen)
        opt.zero_grad()
        ((router(x[rows]) - y[rows]) ** 2).mean().backward()
        opt.step()
        if (step + 1) % max(1, steps // 10) == 0:
            losses.append(full_loss())
    return losses


def fit_residual(data: RouterData, cfg: dict[str, Any], seed: int, workdir: Path) -> FittedRouter:
    """The ``residual`` router (``cfg``: rank, steps, lr, batch_size) on each list's best inner product."""
    from amips.routing.routed import centroids_of

    cfg = section("experiments.list_router.residual", cfg, validate=False)
    centroids = centroids_of(data.ivf)
    rank, steps, batch = int(cfg["rank"]), int(cfg["steps"]), int(cfg["batch_size"])
    targets = list_best_scores(data.queries, data.keys, data.list_top1)
    router = ResidualRouter(centroids, rank, seed)
    t0 = time.perf_counter()
    losses = train_residual(router, data.queries, targets, steps, float(cfg["lr"]), batch, seed)
    seconds = time.perf_counter() - t0
    log.info("residual router (rank %d): MSE %.5f → %.5f in %d steps (%.1f s)", rank, losses[0], losses[-1], steps,
             seconds)
    router.eval()

    def scores(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return router(torch.from_numpy(np.ascontiguousarray(x, np.float32))).numpy()

    return FittedRouter(f"residual rank {rank}", scores, router.flops,
                        float(training_flops(router.flops, steps, batch)), seconds,
                        {"rank": rank, "mse_initial": losses[0], "mse_final": losses[-1]})


ROUTERS: dict[str, Callable[[RouterData, dict[str, Any], int, Path], FittedRouter]] = {
    "centroid": fit_centroid,
    "ltr": fit_ltr,
    "amips": fit_amips,
    "residual": fit_residual,
    "ellipsoid": fit_ellipsoid,
}
# routers trained on every list's best key (list_targets: one exact pass over all keys per training query)
NEEDS_LIST_TARGETS = ("amips", "residual")


def fit_router(kind: str, data: RouterData, cfg: dict[str, Any], seed: int, workdir: Path) -> FittedRouter:
    """Fit the router registered as ``kind`` (see :data:`ROUTERS`)."""
    from amips.data.io import InputError

    if kind not in ROUTERS:
        raise InputError(f"unknown list router {kind!r}; choose one of {', '.join(ROUTERS)}")
    return ROUTERS[kind](data, cfg, seed, workdir)


def label_flops(num_queries: int, num_keys: int, dim: int) -> float:
    """FLOPs of the exact labels a learned router is trained on (one pass over all keys per training query)."""
    return float(num_queries * exact_search_flops(num_keys, dim))
