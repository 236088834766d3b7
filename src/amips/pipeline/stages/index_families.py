"""File-level stages of the index-family experiment (:mod:`amips.experiments.index_families`; used by the Snakemake
scripts): the natural-query and MIPS-to-L2 baselines of a dataset (which also build and store the indexes the learned
rows search), the predicted-key rows of one trained model, and the mean ± std table and figure over seeds.

Every row carries ``dataset``, ``run_id`` (``model/homogenization/frac<f>``; empty for a baseline) and ``seed``
(the run's seed; the index-build seed for a baseline), besides the columns of
:func:`amips.experiments.index_families.sweep`. Recall is of the labels' exact top-1 (``test_targets.npy``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from amips.data.io import InputError, atomic_write_json, atomic_write_text, load_embeddings, read_json
from amips.index.timing import machine_load, set_threads

log = logging.getLogger("amips.pipeline.stages.index_families")

INDEX_META = "indexes.json"
GROUP = ("dataset", "family", "index", "code_bytes", "method", "run_id", "model", "homogenization",
         "parameters_fraction", "param_name", "param", "rerank")
METRICS = ("recall@1", "recall@10", "flops", "index_flops", "network_flops", "distances", "codes_scanned", "hops",
           "seconds", "index_seconds", "network_seconds", "memory_bytes", "index_bytes", "rerank_key_bytes",
           "network_bytes", "build_seconds", "load_average")


def _test_split(keys_path: str | Path, labels_dir: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from amips.data.folders import open_labels

    keys = load_embeddings(keys_path, "keys")
    labels = open_labels(labels_dir, keys, keys_path)
    queries, targets = labels.split("test")
    return keys, queries, targets[:, 0]


def baselines(keys_path: str | Path, labels_dir: str | Path, out_csv: str | Path, index_dir: str | Path,
              cfg: dict[str, Any], dataset: str) -> pd.DataFrame:
    """Build every configured family over the keys (faiss on 1 thread, so the graph is the same on every run), write
    the natural-query and reduction rows to ``out_csv``, and store the indexes the learned rows search in
    ``index_dir`` (with ``indexes.json``: their build seconds and the keys' digest)."""
    from amips.core.fingerprint import array_digest
    from amips.experiments.index_families import BASELINE_METHODS, LEARNED_METHODS, make_families, settings, sweep
    from amips.reporting.tables import write_csv

    cfg = settings(cfg)
    set_threads(1)
    keys, queries, targets = _test_split(keys_path, labels_dir)
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    stored: dict[str, Any] = {}
    rows = []
    for family in make_families(cfg, keys.shape[1]):
        family.build(keys)
        for method in BASELINE_METHODS[family.name]:
            load = machine_load()
            rows += [{"dataset": dataset, "run_id": "", "seed": cfg["seed"], **r, "load_average": load}
                     for r in sweep(family, method, queries, targets, cfg)]
        if LEARNED_METHODS[family.name]:
            family.save(index_dir / f"{family.label}.faiss")
            stored[family.label] = {"family": family.name, "build_seconds": family.build_seconds}
        family.release()  # free it before the next family is built
    atomic_write_json(index_dir / INDEX_META, {"keys_digest": array_digest(keys), "indexes": stored,
                                               "settings": cfg})
    table = pd.DataFrame(rows)
    write_csv(table, out_csv)
    return table


def learned(model_path: str | Path, keys_path: str | Path, labels_dir: str | Path, index_dir: str | Path,
            out_csv: str | Path, cfg: dict[str, Any], run: dict[str, Any], threads: int = 1,
            batch_size: int = 1024) -> pd.DataFrame:
    """The predicted-key rows of one trained model over the indexes stored by :func:`baselines`.

    The network's cost per query: FLOPs :func:`amips.exact.flops.query_flops` (key included) and the measured
    batched wall-clock of its forward (+ gradient for SupportNet); its parameters × 4 bytes enter the memory."""
    from amips.core.fingerprint import array_digest
    from amips.core.runinfo import configure_torch
    from amips.evaluation.evaluate import model_seconds_per_query, predict
    from amips.exact.flops import query_flops
    from amips.experiments.index_families import LEARNED_METHODS, make_families, settings, sweep
    from amips.models.factory import load_checked_model
    from amips.reporting.tables import write_csv

    cfg = settings(cfg)
    configure_torch(threads, "cpu")
    set_threads(1)
    keys, queries, targets = _test_split(keys_path, labels_dir)
    meta = read_json(Path(index_dir) / INDEX_META, "index-family indexes")
    if meta.get("keys_digest") != array_digest(keys):
        raise InputError(f"the indexes in {index_dir} were built over other keys than {keys_path}")
    model, _ = load_checked_model(model_path, keys)
    predicted = predict(model, queries, batch_size)[1][:, 0, :]
    network = {"flops": float(query_flops(model)), "parameters": int(sum(p.numel() for p in model.parameters())),
               "seconds": model_seconds_per_query(model, queries, batch_size, with_key=True, device="cpu")}
    run_id = f"{run['model']}/{run['homogenization']}/frac{run['parameters_fraction']:g}"
    rows = []
    for family in make_families(cfg, keys.shape[1], learned=True):
        entry = meta["indexes"].get(family.label)
        if entry is None:
            raise InputError(f"{index_dir} holds no {family.label} index (rerun rule index_families_baselines)")
        family.load(Path(index_dir) / f"{family.label}.faiss", keys, "index", str(keys_path),
                    build_seconds=entry["build_seconds"])
        for method in LEARNED_METHODS[family.name]:
            load = machine_load()
            rows += [{**run, "run_id": run_id, **r, "load_average": load}
                     for r in sweep(family, method, queries, targets, cfg, predicted, network)]
        family.release()
    table = pd.DataFrame(rows)
    write_csv(table, out_csv)
    return table


def summarize(files: Iterable[str | Path]) -> pd.DataFrame:
    """Mean ± std (ddof 1; 0 for one seed) over seeds of every operating point, and the seed count ``n_seeds``."""
    frames = []
    for path in files:
        try:
            frames.append(pd.read_csv(path, keep_default_na=False, na_values=["", "nan", "NaN"]))
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InputError(f"cannot read index-family file {path}: {exc}") from exc
    if not frames:
        raise InputError("no index-family files to aggregate")
    data = pd.concat(frames, ignore_index=True)
    for column in ("run_id", "model", "homogenization"):
        data[column] = data[column].fillna("") if column in data else ""
    if "parameters_fraction" not in data:
        data["parameters_fraction"] = np.nan
    group = [g for g in GROUP if g in data.columns]
    metrics = [m for m in METRICS if m in data.columns]
    grouped = data.groupby(group, sort=True, dropna=False)
    mean = grouped[metrics].mean()
    std = grouped[metrics].std(ddof=1).fillna(0.0).add_suffix("_std")
    extra = grouped[["num_keys", "dim", "num_queries", "timing"]].first()
    out = pd.concat([mean, std, grouped.size().rename("n_seeds"), extra], axis=1).reset_index()
    return out[group + [c for m in metrics for c in (m, f"{m}_std")] + ["n_seeds", "num_keys", "dim", "num_queries",
                                                                        "timing"]]


def markdown(summary: pd.DataFrame) -> str:
    """Per dataset and index: the best recall@1 (mean ± std) of each method at the FLOPs budgets of 1 / 2 / 5 / 10 /
    20 % of exact search, and its memory per key; then the protocol."""
    budgets = (0.01, 0.02, 0.05, 0.1, 0.2)
    lines = ["# Index families: the natural query x vs the predicted key ĝ(x) (amips.experiments.index_families)", "",
             "recall@1 of the labels' exact top-1 (mean ± std over seeds), best operating point within each budget "
             "(FLOPs per query, network included, as a fraction of exact search 2·m·d); memory = bytes per key of "
             "the row's best point: the index, + the float keys (4·d) where a compressed index re-ranks from them "
             "('float keys: re-rank'; HNSW and IVF-Flat hold them anyway), + the network's parameters × 4 / m.", ""]
    header = (["dataset", "index", "method", "run", "float keys"] + [f"≤ {b:g}" for b in budgets]
              + ["memory B/key", "seeds"])
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    summary = summary.assign(float_keys=np.where(summary["rerank_key_bytes"] > 0, "re-rank", "–"))
    for (dataset, index, method, run, keys), part in summary.groupby(
            ["dataset", "index", "method", "run_id", "float_keys"], sort=True):
        exact = 2.0 * part["num_keys"].iloc[0] * part["dim"].iloc[0]
        cells = [str(dataset), str(index), str(method), str(run) or "–", keys]
        for b in budgets:
            fits = part[part["flops"] <= b * exact]
            if len(fits):
                best = fits.loc[fits["recall@1"].idxmax()]
                cells.append(f"{best['recall@1']:.3f} ± {best['recall@1_std']:.3f}")
            else:
                cells.append("–")
        best = part.loc[part["recall@1"].idxmax()]
        cells += [f"{best['memory_bytes']:.0f}", str(int(part["n_seeds"].max()))]
        lines.append("| " + " | ".join(cells) + " |")
    timing = "; ".join(sorted(set(summary["timing"].astype(str))))
    load = summary["load_average"].max() if "load_average" in summary else float("nan")
    lines += ["", f"Wall-clock protocol: {timing}. Highest 1-minute load average during a measurement: {load:.2f} "
              "(on a 2-core machine anything above 1 means the seconds were measured under load).", ""]
    return "\n".join(lines)


def aggregate(files: Iterable[str | Path], out_csv: str | Path, out_md: str | Path,
              out_png: str | Path) -> pd.DataFrame:
    """The mean ± std table over seeds (CSV), its Markdown budget table and the figure."""
    from amips.reporting.experiment_plots import plot_index_families
    from amips.reporting.tables import write_csv

    summary = summarize(files)
    write_csv(summary, out_csv)
    atomic_write_text(out_md, markdown(summary))
    plot_index_families(summary, out_png)
    return summary
