"""Your own embeddings end to end: train a model on two ``.npy`` files, and evaluate a model on your queries.

:func:`fit_embeddings` is the pipeline's labels → train stages without intermediate files: the queries are
noise-augmented and labelled with their exact top-1 key on the fly, and every row outside the validation split
(see :func:`fit_embeddings`) is used for training. It writes
one model file (weights, spec, training settings, train info) and, while training, a checkpoint ``<out>.ckpt``
from which a rerun with the same arguments resumes.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from amips.core.fingerprint import array_digest
from amips.core.runinfo import configure_torch
from amips.data.io import InputError, check_distinct_paths, check_replaceable, sibling_path
from amips.data.locks import exclusive_lock
from amips.data.sets import load_key_query_files
from amips.estimator import Model
from amips.evaluation.baselines import model_baselines
from amips.evaluation.evaluate import predict
from amips.evaluation.metrics import evaluate_predictions
from amips.exact.labels import exact_topk
from amips.index.ivf import IvfFlatIndex, build_ivf
from amips.models import ModelSpec
from amips.search import load_mips_model
from amips.training.retrieval import uses_retrieval
from amips.training.train import TrainSpec

__all__ = ["checkpoint_path", "evaluate_queries", "evaluation_index", "fit_embeddings", "labels_extras",
    "wrapper_is_noop"]

log = logging.getLogger("amips.fit")


def checkpoint_path(model_path: str | Path) -> Path:
    """The training checkpoint kept next to ``model_path`` by :func:`fit_embeddings`: ``<model_path>.ckpt`` (the name
    shortened if it would exceed the name limit, see :func:`amips.data.io.sibling_path`)."""
    return sibling_path(model_path, ".ckpt")


def fit_embeddings(
    keys_path: str | Path,
    queries_path: str | Path,
    out_path: str | Path,
    model_spec: ModelSpec,
    train_spec: TrainSpec,
    noise_copies: int | None = None,
    noise_std: float | None = None,
    seed: int = 0,
    device: str = "cpu",
    threads: int = 1,
    progress: bool = False,
    restart: bool = False,
    val_fraction: float | None = None,
    val_queries_path: str | Path | None = None,
    val_split: str | None = None,
    ivf_index_path: str | Path | None = None,
    overwrite: bool = False,
    cap_batch: bool = False,
    with_baselines: bool = True,
) -> dict[str, Any]:
    """:meth:`amips.Model.fit` on keys [m, d] and queries [n, d] from ``.npy`` files (labels, validation split
    and the label settings as there; None: the schema's label defaults), saved to ``out_path``.

    Resumes from ``<out_path>.ckpt`` after an interruption with the same inputs and settings; a checkpoint from
    others is an error naming the field unless ``restart`` discards it. An exclusive lock on ``out_path`` stops a
    second writer. ``val_queries_path``: held-out validation queries (then every training row is used). A retrieval
    term trains on ``ivf_index_path`` (over the same keys) or on a new ⌊√m⌋-list index saved as ``<out_path>.ivf``.
    ``out_path`` (and that index) may be neither an input nor a file amips did not write (unless ``overwrite``).
    Returns the train info stored in the model file, with ``with_baselines`` also ``baselines``
    (:func:`amips.evaluation.baselines.model_baselines`: the query itself and IVF probing with x vs ĝ on the
    validation queries, or the training queries without a validation split).
    """
    out_path = Path(out_path)
    if out_path.is_dir():
        raise InputError(f"output {out_path} is a directory; give a file name such as {out_path / 'model.pt'}")
    ckpt = checkpoint_path(out_path)
    inputs = {"--keys": keys_path, "--queries": queries_path, **({"--val-queries": val_queries_path}
                                                                 if val_queries_path is not None else {}),
              **({"--ivf-index": ivf_index_path} if ivf_index_path is not None else {})}
    outputs = {"--out": out_path, "checkpoint": ckpt}
    if uses_retrieval(train_spec.retrieval) and ivf_index_path is None:
        outputs["IVF index output"] = sibling_path(out_path, ".ivf")
    check_distinct_paths(outputs, inputs)
    check_replaceable({name: path for name, path in outputs.items() if name != "checkpoint"}, overwrite)
    with exclusive_lock(out_path, "amips fit"):
        ds = load_key_query_files(keys_path, queries_path)
        val_q = (load_key_query_files(keys_path, val_queries_path, "--val-queries").queries
                 if val_queries_path is not None else None)
        index, index_source = _index(ds.keys, train_spec, ivf_index_path, outputs.get("IVF index output"))
        if restart and ckpt.exists():
            log.info("--restart: discarding %s", ckpt)
            ckpt.unlink()
        if out_path.exists():
            log.warning("%s exists and will be replaced by the new model", out_path)
        model = Model.from_specs(model_spec, train_spec, noise_copies=noise_copies, noise_std=noise_std,
                                 val_fraction=val_fraction, split=val_split, seed=seed, device=device, threads=threads)
        model.fit_unit(ds.keys, ds.queries, val_q, index, checkpoint=ckpt, progress=progress, cap_batch=cap_batch,
                       stale_hint="rerun with --restart to discard it and train from step 0", run_name=str(out_path))
        model.save(out_path, {"data": {"keys": str(keys_path), "queries": str(queries_path),
                                       **model.payload_["data"]}})
        if "IVF index output" in outputs:  # written with the model, so that a failed fit leaves neither
            model.index_.save(outputs["IVF index output"])
        ckpt.unlink(missing_ok=True)
        info = dict(model.info_)
        if with_baselines:
            info["baselines"] = _baselines(model, index_source)
    return info


def _baselines(model: Model, index_source: str) -> dict[str, Any]:
    """:func:`amips.evaluation.baselines.model_baselines` of a fitted model on its validation rows (its training
    rows without a validation split), through its retrieval index or one built here."""
    data, keys = model.data_, model.keys_
    held_out = data.val_queries.shape[0] > 0
    index = model.index_
    if index is None:
        index, index_source = evaluation_index(keys, None, None)
    return model_baselines(model.model_, keys, data.val_queries if held_out else data.train_queries,
                           data.val_targets if held_out else data.train_targets, index, index_source,
                           "the validation split" if held_out else "the TRAINING queries: no validation split",
                           device=model.device)


def _index(keys: np.ndarray, train_spec: TrainSpec, index_path: str | Path | None,
           new_index_path: Path | None) -> tuple[IvfFlatIndex | None, str]:
    """The IVF index a retrieval term trains on and where it came from: ``index_path``, else a new one (⌊√m⌋ lists,
    seed 0, the same on every call) that the caller saves at ``new_index_path`` with the model; (None, "") without a
    retrieval term."""
    if not uses_retrieval(train_spec.retrieval):
        return None, ""
    if index_path is not None:
        return IvfFlatIndex().load(index_path, keys, "--ivf-index"), f"--ivf-index {index_path}"
    ivf = build_ivf(keys, seed=0)
    log.info("built an IVF index of %d lists for the retrieval term; it is saved to %s with the model", ivf.nlist,
             new_index_path)
    return ivf, f"the retrieval term's, saved as {new_index_path}"


def evaluate_queries(model_path: str | Path, keys_path: str | Path, queries_path: str | Path, device: str = "cpu",
                     threads: int = 1, batch_size: int = 1024, allow_other_keys: bool = False,
                     conventions: dict[str, str] | None = None, with_baselines: bool = False,
                     ivf_index_path: str | Path | None = None, nlist: int | None = None) -> dict[str, Any]:
    """Metrics of a saved model on queries [n, d] against their exact top-1 keys [m, d] (all from files).

    Returns the model's train info followed by the metrics of :func:`amips.evaluation.metrics.evaluate_predictions`
    (``conventions``: ``rank_ties``, ``recall_at_1pct``), ``scored`` (which queries: a warning is logged, and the
    field says so, when they are the queries the model was trained on) and, with ``with_baselines``, ``baselines``
    (:func:`amips.evaluation.baselines.model_baselines` on the IVF index ``ivf_index_path``, else one built here).
    """
    configure_torch(threads, device)
    conventions = {"rank_ties": "index", "recall_at_1pct": "ceil", **(conventions or {})}
    ds = load_key_query_files(keys_path, queries_path)
    model, payload = load_mips_model(model_path, ds.keys, allow_other_keys)
    scored = f"the queries of {queries_path}"
    if payload.get("data", {}).get("queries_sha256") == array_digest(ds.queries):
        log.warning("%s holds the queries model %s was trained from: these numbers measure the fit, not "
                    "generalisation; evaluate held-out queries (or a labels folder's test split with --labels)",
                    queries_path, model_path)
        scored = f"the TRAINING queries of {queries_path}"
    t0 = time.perf_counter()
    targets = exact_topk(ds.queries, ds.keys, 1, device=device)[1]
    predictions = predict(model, ds.queries, batch_size, device)
    metrics = evaluate_predictions(ds.queries, ds.keys, *predictions, targets, **conventions)
    record = {**conventions, **payload.get("train_info", {}), **metrics, "eval_seconds": time.perf_counter() - t0,
              "scored": scored, "homogenization_noop": wrapper_is_noop(model, ds.queries)}
    if with_baselines:  # the model's predictions and metrics reused, not computed again
        ivf, source = evaluation_index(ds.keys, ivf_index_path, nlist)
        record["baselines"] = model_baselines(model, ds.keys, ds.queries, targets, ivf, source, scored,
                                              device=device, predictions=predictions, model_metrics=metrics,
                                              **conventions)
    return record


def labels_extras(model_path: str | Path, keys_path: str | Path, labels_dir: str | Path, device: str = "cpu",
                  batch_size: int = 1024, allow_other_keys: bool = False, conventions: dict[str, str] | None = None,
                  with_baselines: bool = True, ivf_index_path: str | Path | None = None,
                  nlist: int | None = None) -> dict[str, Any]:
    """What ``evaluate --labels`` adds to the pipeline's record (keys, test split and model read once):
    ``homogenization_noop`` (:func:`wrapper_is_noop` on the test split) and, with ``with_baselines`` and for a MIPS
    model, ``baselines`` (:func:`amips.evaluation.baselines.model_baselines`; a router's baselines are the pipeline's
    router curves)."""
    from amips.data.folders import open_labels
    from amips.data.io import load_embeddings
    from amips.models.factory import load_checked_model

    keys = load_embeddings(keys_path, "keys")
    queries, targets = open_labels(labels_dir, keys, keys_path).split("test")
    model, _ = load_checked_model(model_path, keys, allow_other_keys)  # a MIPS model or a router
    extras: dict[str, Any] = {"homogenization_noop": wrapper_is_noop(model, queries)}
    if with_baselines and model.num_outputs == 1 and targets.shape[1] == 1:
        ivf, source = evaluation_index(keys, ivf_index_path, nlist)
        extras["baselines"] = model_baselines(model, keys, queries, targets, ivf, source,
                                              f"the test split of {labels_dir}", batch_size=batch_size, device=device,
                                              **(conventions or {}))
    return extras


def wrapper_is_noop(model: Any, queries: np.ndarray) -> bool:
    """Whether the model's homogenization wrapper computes the raw network on these queries [n, d] (the radial KeyNet
    on unit-norm queries, :func:`amips.models.homogenize.is_noop`)."""
    from amips.models.homogenize import is_noop

    unit = bool(np.allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-5))
    return is_noop(model.spec.homogenization, model.spec.kind, unit_norm_queries=unit)


def evaluation_index(keys: np.ndarray, index_path: str | Path | None, nlist: int | None) -> tuple[IvfFlatIndex, str]:
    """The IVF index the baselines probe: ``index_path`` (checked against keys [m, d]) or one built here."""
    if index_path is not None:
        return IvfFlatIndex().load(index_path, keys, "--ivf-index"), f"--ivf-index {index_path}"
    ivf = build_ivf(keys, nlist, seed=0)
    return ivf, f"built here: {'⌊√m⌋' if nlist is None else nlist} lists, seed 0, not saved"
