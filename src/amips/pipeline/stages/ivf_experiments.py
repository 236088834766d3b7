"""File-level stages of the IVF experiments (used by the Snakemake scripts): hybrid probing, list routers,
break-even. Each reads the mips labels' train/test splits and the IVF index of rule ivf_baselines, and writes one
CSV (atomically) in the column layout of :func:`amips.index.sweeps.ivf_sweep`, plus the training cost of learned
methods: ``train_seconds``, ``train_flops`` (estimate, :func:`amips.exact.flops.training_flops`), ``label_seconds`` and
``label_flops`` (the exact labels the method is trained on).

Every sweep here runs over the run's one nprobe grid (``cfg['nprobes']``, :func:`amips.index.ivf.nprobe_grid`) with the
timing protocol of :mod:`amips.index.timing` (``cfg``: timing_repeats, quiet_load). None sweeps the natural query: plain
IVF's curve is rule ivf_baselines' ``ivf natural`` rows, measured once per dataset and index, which
:func:`aggregate_experiment` reads from ``results/{dataset}/ivf/baselines.csv`` beside the experiment's curves."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amips.data.folders import LabelsFolder, open_labels
from amips.data.io import load_embeddings, load_npy, read_json
from amips.core.schema import defaults
from amips.reporting.budgets import Budgets

log = logging.getLogger("amips.pipeline.stages.ivf_experiments")


def _split(labels: LabelsFolder, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Queries [N, d] and top-1 targets [N] of split ``name`` of a (plain MIPS) labels folder."""
    queries, targets = labels.split(name)
    return queries, targets[:, 0]


def _label_cost(labels: LabelsFolder, num_train: int, num_keys: int, dim: int) -> dict[str, float]:
    """The share of the labels stage's measured seconds spent on the ``num_train`` training rows, and their FLOPs."""
    from amips.routing.list_routers import label_flops

    meta = labels.meta()
    rows = max(1, int(meta.get("num_rows", num_train)))
    return {"label_seconds": float(meta.get("label_seconds", float("nan"))) * num_train / rows,
            "label_flops": label_flops(num_train, num_keys, dim)}


def ivf_hybrid(model_path: str | Path, keys_path: str | Path, labels_dir: str | Path, index_path: str | Path,
               out_csv: str | Path, cfg: dict[str, Any], run: dict[str, Any], training: dict[str, Any],
               threads: int = 1, batch_size: int = 1024) -> list[dict[str, Any]]:
    """Hybrid probing (probe with ĝ(x), rank with x) and the split probe budget, for one trained model.

    ``cfg``: k_values, split_shares, nprobes, timing_repeats, quiet_load; ``training``: the run's training settings
    (steps, batch_size), for the training-FLOPs estimate."""
    cfg = {**defaults("experiments.ivf", "experiments.ivf_hybrid"), **cfg}
    import faiss

    from amips.evaluation.evaluate import predict
    from amips.experiments.hybrid import hybrid_sweeps
    from amips.exact.flops import query_flops, training_flops
    from amips.index.ivf import load_ivf, nprobe_grid
    from amips.index.timing import sweep_timing
    from amips.models.factory import load_checked_model
    from amips.core.runinfo import configure_torch
    from amips.evaluation.evaluate import model_seconds_per_query
    from amips.reporting.tables import write_csv

    configure_torch(threads, "cpu")
    faiss.omp_set_num_threads(max(1, threads))
    keys = load_embeddings(keys_path, "keys")
    labels = open_labels(labels_dir, keys, keys_path)
    test_q, test_top1 = _split(labels, "test")
    num_train = load_npy(labels.manifest.verified("train_queries.npy"), "train queries", mmap=True).shape[0]
    model, payload = load_checked_model(model_path, keys)
    predicted = predict(model, test_q, batch_size)[1][:, 0, :]
    net_seconds = model_seconds_per_query(model, test_q, batch_size, with_key=True, device="cpu")
    net_flops = float(query_flops(model))
    ivf = load_ivf(index_path)
    rows = hybrid_sweeps(ivf, test_q, predicted, test_top1, list(cfg["k_values"]), net_flops,
                         net_seconds, [float(s) for s in cfg["split_shares"]],
                         nprobe_grid(ivf.nlist, cfg.get("nprobes")), **sweep_timing(cfg))
    cost = {"network_flops": net_flops, "network_seconds": net_seconds,
            "train_seconds": float(payload.get("train_info", {}).get("train_seconds", float("nan"))),
            "train_flops": training_flops(net_flops, int(training["steps"]), int(training["batch_size"])),
            **_label_cost(labels, num_train, keys.shape[0], keys.shape[1])}
    label = f"{run['model']} ({run['homogenization']})"
    out = []
    for r in rows:
        rule = r.pop("probe_rule")
        name = f"hybrid {label}" if rule == "hybrid" else f"split {r['split_share']:g} {label}"
        out.append({**run, "method": name, **cost, **r})
    write_csv(pd.DataFrame(out), out_csv)
    return out


def write_list_targets(keys_path: str | Path, labels_dir: str | Path, index_path: str | Path, out_npy: str | Path,
                       threads: int = 1, device: str = "cpu") -> dict[str, Any]:
    """The best key of every IVF list for each training query ([N, nlist] int64, :func:`list_targets`), written
    once per dataset for all the routers trained on it, with ``<out_npy stem>.json``: label_seconds, label_flops,
    num_rows, nlist, device."""
    from amips.routing.list_routers import list_targets
    from amips.data.io import atomic_save_npy, atomic_write_json
    from amips.index.ivf import load_ivf
    from amips.core.runinfo import configure_torch

    configure_torch(threads, device)
    keys = load_embeddings(keys_path, "keys")
    ivf = load_ivf(index_path)
    train_q, _ = _split(open_labels(labels_dir, keys, keys_path), "train")
    targets, cost = list_targets(train_q, keys, ivf, device)
    meta = {**cost, "num_rows": int(targets.shape[0]), "nlist": int(ivf.nlist), "device": device}
    atomic_save_npy(out_npy, targets)
    atomic_write_json(Path(out_npy).with_suffix(".json"), meta)
    log.info("list targets of %d training queries over %d lists in %.1f s (%s)", len(train_q), ivf.nlist,
             cost["label_seconds"], device)
    return meta


def load_list_targets(path: str | Path, ivf, num_rows: int) -> tuple[np.ndarray, dict[str, float]]:
    """Read :func:`write_list_targets`' file and its cost; checked against the index (every entry of column l
    must be a key of list l) and the training split (``num_rows``)."""
    from amips.data.io import InputError

    path = Path(path)
    targets = load_npy(path, "list targets")
    if targets.ndim != 2 or targets.shape != (num_rows, ivf.nlist) or not np.issubdtype(targets.dtype, np.integer):
        raise InputError(f"list targets {path}: expected int [{num_rows}, {ivf.nlist}] (training queries × lists), "
                         f"got {targets.dtype} {list(targets.shape)}; rerun rule list_targets")
    if targets.size and ((targets < 0).any() or (targets >= ivf.key_list.shape[0]).any()
                         or (ivf.key_list[targets] != np.arange(ivf.nlist)).any()):
        raise InputError(f"list targets {path} do not match the IVF index's lists (an older index?); rerun rule "
                         "list_targets")
    meta = read_json(path.with_suffix(".json"), "list-targets record")
    return targets.astype(np.int64, copy=False), {k: float(meta[k]) for k in ("label_seconds", "label_flops")}


def list_router(kind: str, keys_path: str | Path, labels_dir: str | Path, index_path: str | Path,
                out_csv: str | Path, cfg: dict[str, Any], run: dict[str, Any], workdir: str | Path,
                threads: int = 1, list_targets_path: str | Path | None = None) -> list[dict[str, Any]]:
    """Fit a router over the IVF index's lists on the training queries and sweep nprobe on the test queries.

    ``kind``: a name of :data:`amips.routing.list_routers.ROUTERS`; ``cfg``: its settings plus k_values,
    nprobes, timing_repeats, quiet_load.
    Routers trained on every list's best key (``amips``, ``residual``) read them from ``list_targets_path``
    (:func:`write_list_targets`; its measured seconds are their label cost), or compute them here without one."""
    cfg = {**defaults("experiments.ivf"), **cfg}
    import faiss

    from amips.routing.list_routers import NEEDS_LIST_TARGETS, RouterData, fit_router, list_targets
    from amips.routing.routed import order_from_scores, prefix_lists, routed_sweep
    from amips.index.ivf import load_ivf, nprobe_grid
    from amips.index.timing import sweep_timing
    from amips.core.runinfo import configure_torch
    from amips.reporting.tables import write_csv

    configure_torch(threads, "cpu")
    faiss.omp_set_num_threads(max(1, threads))
    workdir = Path(workdir)
    keys = load_embeddings(keys_path, "keys")
    ivf = load_ivf(index_path)
    labels_folder = open_labels(labels_dir, keys, keys_path)
    train_q, train_top1 = _split(labels_folder, "train")
    test_q, test_top1 = _split(labels_folder, "test")
    if kind in NEEDS_LIST_TARGETS and list_targets_path is not None:
        list_top1, labels = load_list_targets(list_targets_path, ivf, len(train_q))
    elif kind in NEEDS_LIST_TARGETS:
        list_top1, labels = list_targets(train_q, keys, ivf)
    elif kind == "centroid":
        list_top1, labels = np.empty((len(train_q), 0), np.int64), {"label_seconds": 0.0, "label_flops": 0.0}
    else:
        list_top1, labels = np.empty((len(train_q), 0), np.int64), _label_cost(labels_folder, len(train_q),
                                                                               *keys.shape)
    router = fit_router(kind, RouterData(keys, ivf, train_q, train_top1, list_top1), cfg, int(run["seed"]),
                        workdir)
    router.scores(test_q[: min(256, len(test_q))])  # warm-up
    t0 = time.perf_counter()
    scores = router.scores(test_q)
    order = order_from_scores(scores)
    route_seconds = (time.perf_counter() - t0) / len(test_q)
    rows = routed_sweep(ivf, test_q, prefix_lists(order), test_top1, nprobe_grid(ivf.nlist, cfg.get("nprobes")),
                        list(cfg["k_values"]), router.flops, route_seconds,
                        np.isfinite(scores).all(axis=1), **sweep_timing(cfg))
    name = run.get("method", f"router {router.name}")
    out = [{**run, "method": name, "router_flops": router.flops, "router_seconds": route_seconds,
            "train_seconds": router.train_seconds, "train_flops": router.train_flops, **labels, **router.info, **r}
           for r in rows]
    write_csv(pd.DataFrame(out), out_csv)
    (workdir / "checkpoint.pt").unlink(missing_ok=True)  # outputs written: an interrupted run no longer resumes
    return out


COST_METRICS = ("train_seconds", "train_flops", "label_seconds", "label_flops", "build_seconds", "build_flops",
                "network_flops", "router_flops")


def versus_ivf_markdown(curves: pd.DataFrame, budgets: Budgets) -> str:
    """Markdown: at each FLOPs budget (fraction of exact search), plain IVF's best recall@1, the best other method
    and its margin (positive: the method beats plain IVF at equal FLOPs; measured from 0 where plain IVF has no
    operating point within the budget)."""
    from amips.reporting.budgets import best_within_budget

    lines = ["\n## Best method vs plain IVF at equal FLOPs\n\n",
             "| dataset | FLOPs budget | plain IVF recall@1 | best other method | its recall@1 | margin |\n",
             "|---|---|---|---|---|---|\n"]
    for dataset, frame in curves.groupby("dataset", sort=True):
        exact = frame.loc[frame["method"] == "exact", "flops_mean"]
        if exact.empty:
            continue
        others = frame[~frame["method"].isin(["exact", "hnsw", "hnsw faiss"])]
        table = best_within_budget(others, "flops", "recall@1", budgets, reference=float(exact.iloc[0]))
        for fraction, rows in table.groupby("flops_budget", sort=True):
            base = rows.loc[rows["method"] == "ivf natural", "recall@1_mean"]
            base_value = float(base.iloc[0]) if len(base) else float("nan")
            rest = rows[(rows["method"] != "ivf natural") & rows["recall@1_mean"].notna()]
            base_cell = "–" if np.isnan(base_value) else f"{base_value:.3f}"  # no operating point fits
            if rest.empty:
                lines.append(f"| {dataset} | {fraction:.3g} | {base_cell} | – | – | – |\n")
                continue
            best = rest.loc[rest["recall@1_mean"].idxmax()]
            margin = best["recall@1_mean"] - (0.0 if np.isnan(base_value) else base_value)
            lines.append(f"| {dataset} | {fraction:.3g} | {base_cell} | {best['method']} | "
                         f"{best['recall@1_mean']:.3f} | {margin:+.3f} |\n")
    return "".join(lines)


def aggregate_experiment(files: list[str | Path], out_csv: str | Path, out_md: str | Path,
                         title: str, budgets: Budgets) -> pd.DataFrame:
    """Curves (mean ± std over seeds) of the baselines and one experiment's methods; the Markdown holds the
    equal-FLOPs / equal-wall-clock tables, coverage at equal probes and the comparison with plain IVF."""
    from amips.data.io import atomic_write_text
    from amips.reporting.tables import aggregate_ivf

    curves = aggregate_ivf(files, out_csv, out_md, budgets, title=title, extra_metrics=COST_METRICS)
    text = Path(out_md).read_text(encoding="utf-8") + versus_ivf_markdown(curves, budgets)
    atomic_write_text(out_md, text)
    return curves


def breakeven(curve_files: list[str | Path], out_csv: str | Path, out_md: str | Path, figure: str | Path,
              recalls: list[float]) -> pd.DataFrame:
    """Break-even table (:func:`amips.experiments.breakeven.breakeven_table`) and figure over aggregated curves."""
    from amips.experiments.breakeven import breakeven_markdown, breakeven_table, cost_lines
    from amips.reporting.experiment_plots import plot_breakeven
    from amips.data.io import atomic_write_text
    from amips.reporting.tables import _read_csvs, write_csv

    curves = pd.concat(_read_csvs(curve_files), ignore_index=True)
    curves = curves.drop_duplicates(subset=[c for c in ("dataset", "method", "nprobe", "ef") if c in curves])
    table = breakeven_table(curves, recalls)
    write_csv(table, out_csv)
    atomic_write_text(out_md, breakeven_markdown(table))
    plot_breakeven(curves, cost_lines(curves, recalls), recalls, figure)
    return table
