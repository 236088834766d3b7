"""The k-means router stage (rules router_baseline and router_learned, workflow/rules/router.smk): match rate vs
keys scanned when routing to the top-r clusters (:mod:`amips.routing.clusters`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amips.data.folders import open_labels
from amips.data.io import InputError, load_embeddings
from amips.models.factory import load_checked_model
from amips.core.runinfo import configure_torch


def router_curves(keys_path: str | Path, labels_dir: str | Path, out_csv: str | Path, model_path: str | Path | None = None,
                  run: dict[str, Any] | None = None, threads: int = 1, batch_size: int = 1024) -> list[dict[str, Any]]:
    """Match rate vs keys scanned when routing to the top-r k-means clusters: learned router or centroids."""
    from amips.evaluation.evaluate import predict
    from amips.exact.flops import query_flops
    from amips.routing.clusters import centroid_scores, routing_curve
    from amips.reporting.tables import write_csv

    configure_torch(threads, "cpu")
    keys = load_embeddings(keys_path, "keys")
    labels = open_labels(labels_dir, keys, keys_path)
    test_q, test_t = labels.split("test")
    assignments = labels.array("assignments", "cluster assignments")
    sizes = np.bincount(assignments, minlength=test_t.shape[1])
    true_scores = np.einsum("ncd,nd->nc", keys[test_t], test_q)
    if model_path is None:
        centroids = labels.array("centroids", "centroids")
        scores, flops, method = centroid_scores(test_q, centroids), 2.0 * keys.shape[1] * len(centroids), "centroid routing"
    else:
        model = load_checked_model(model_path, keys)[0]
        if model.num_outputs != test_t.shape[1]:
            raise InputError(f"router {model_path} has {model.num_outputs} outputs but the labels have {test_t.shape[1]} clusters")
        scores = predict(model, test_q, batch_size)[0]
        flops = float(query_flops(model, with_key=False))
        method = f"{run['model']} router ({run['homogenization']})" if run else "learned router"
    rows = [{**(run or {}), "method": method, "router_flops": flops, **r}
            for r in routing_curve(scores, true_scores, sizes, keys.shape[1], flops)]
    write_csv(pd.DataFrame(rows), out_csv)
    return rows
