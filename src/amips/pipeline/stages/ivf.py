"""The IVF stages (rules ivf_baselines and ivf_projected, workflow/rules/ivf.smk): the natural-query IVF sweep,
exact search and HNSW of a dataset, and the IVF sweep with a model's predicted key as the query."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from amips.evaluation.evaluate import model_seconds_per_query
from amips.data.folders import open_labels
from amips.data.io import load_embeddings
from amips.models.factory import load_checked_model
from amips.core.schema import section
from amips.core.runinfo import configure_torch


def ivf_baselines(keys_path: str | Path, labels_dir: str | Path, out_csv: str | Path, cfg: dict[str, Any],
                  dataset: str = "", threads: int = 1, index_path: str | Path | None = None) -> list[dict[str, Any]]:
    """Natural-query IVF sweep, exact search and HNSW on the test queries; one CSV row per operating point.

    The IVF index is written to ``index_path`` (if given) for the projected-query runs to search the same lists. The
    natural sweep is measured here once per dataset and index, over ``cfg['nprobes']``
    (:func:`amips.index.ivf.nprobe_grid`); the IVF experiments read its ``ivf natural`` rows from this CSV. Timing
    protocol and load columns: :mod:`amips.index.timing` (``cfg``: timing_repeats, quiet_load).
    """
    import faiss

    from amips.index.ivf import build_ivf, nprobe_grid
    from amips.index.sweeps import exact_search_row, faiss_hnsw_sweep, hnsw_sweep, ivf_sweep
    from amips.index.timing import sweep_timing
    from amips.reporting.tables import write_csv

    configure_torch(threads, "cpu")
    faiss.omp_set_num_threads(max(1, threads))
    cfg = section("experiments.ivf", cfg, validate=False)
    timing = sweep_timing(cfg)
    keys = load_embeddings(keys_path, "keys")
    test_q, test_t = open_labels(labels_dir, keys, keys_path).split("test")
    ivf = build_ivf(keys, cfg.get("nlist"), seed=int(cfg["seed"]))
    if index_path is not None:
        ivf.save(index_path)
    k_values = list(cfg["k_values"])
    rows = [{"method": "ivf natural", **r}
            for r in ivf_sweep(ivf, test_q, test_t[:, 0], nprobe_grid(ivf.nlist, cfg.get("nprobes")), k_values,
                               **timing)]
    rows.append({"method": "exact", **exact_search_row(keys, test_q, k_values, threads=threads, **timing)})
    if cfg.get("hnsw_ef"):
        rows += [{"method": "hnsw", **r} for r in hnsw_sweep(keys, test_q, test_t[:, 0], list(cfg["hnsw_ef"]), k_values,
                                                             threads=threads, **timing)]
        if cfg["faiss_hnsw"]:
            rows += [{"method": "hnsw faiss", **r}
                     for r in faiss_hnsw_sweep(keys, test_q, test_t[:, 0], list(cfg["hnsw_ef"]), k_values, **timing)]
    rows = [{"dataset": dataset, **r} for r in rows]
    write_csv(pd.DataFrame(rows), out_csv)
    return rows


def ivf_projected(model_path: str | Path, keys_path: str | Path, labels_dir: str | Path, out_csv: str | Path,
                  cfg: dict[str, Any], run: dict[str, Any], threads: int = 1, batch_size: int = 1024,
                  index_path: str | Path | None = None) -> list[dict[str, Any]]:
    """IVF sweep with the model's predicted key as the query; network FLOPs and wall-clock added to the cost.

    ``index_path``: the index of :func:`ivf_baselines` (same lists as the natural query); built afresh if None.
    """
    import faiss

    from amips.evaluation.evaluate import predict
    from amips.exact.flops import query_flops
    from amips.index.ivf import build_ivf, load_ivf, nprobe_grid
    from amips.index.sweeps import ivf_sweep
    from amips.index.timing import sweep_timing
    from amips.reporting.tables import write_csv

    configure_torch(threads, "cpu")
    faiss.omp_set_num_threads(max(1, threads))
    cfg = section("experiments.ivf", cfg, validate=False)
    keys = load_embeddings(keys_path, "keys")
    test_q, test_t = open_labels(labels_dir, keys, keys_path).split("test")
    model = load_checked_model(model_path, keys)[0]
    projected = predict(model, test_q, batch_size)[1][:, 0, :]
    net_seconds = model_seconds_per_query(model, test_q, batch_size, with_key=True, device="cpu")
    ivf = load_ivf(index_path) if index_path else build_ivf(keys, cfg.get("nlist"), seed=int(cfg["seed"]))
    rows = ivf_sweep(ivf, projected, test_t[:, 0], nprobe_grid(ivf.nlist, cfg.get("nprobes")),
                     list(cfg["k_values"]), extra_flops=query_flops(model), extra_seconds=net_seconds,
                     **sweep_timing(cfg))
    rows = [{**run, "method": f"ivf {run['model']} ({run['homogenization']})", "network_flops": query_flops(model),
             "network_seconds": net_seconds, **r} for r in rows]
    write_csv(pd.DataFrame(rows), out_csv)
    return rows
