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
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from amips.data.sets import load_key_query_files
from amips.evaluation.evaluate import predict
from amips.evaluation.metrics import evaluate_predictions
from amips.core.fingerprint import array_digest
from amips.data.io import InputError, check_distinct_paths, check_replaceable, exclusive_lock, sibling_path
from amips.exact.labels import exact_topk
from amips.models import ModelSpec
from amips.core.runinfo import configure_torch
from amips.search import load_mips_model
from amips.index.ivf import IvfFlatIndex, build_ivf
from amips.evaluation.baselines import model_baselines
from amips.training.retrieval import Partition, uses_retrieval
from amips.exact.labelling import label_queries
from amips.training.runs import train_arrays
from amips.training.train import TrainSpec
from amips.training.validation import carve_validation, selection_eval_fn

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
    noise_copies: int = 4,
    noise_std: float = 0.02,
    seed: int = 0,
    device: str = "cpu",
    threads: int = 1,
    progress: bool = False,
    restart: bool = False,
    val_fraction: float = 0.1,
    val_queries_path: str | Path | None = None,
    val_split: str = "by_source",
    ivf_index_path: str | Path | None = None,
    overwrite: bool = False,
    cap_batch: bool = False,
    with_baselines: bool = True,
) -> dict[str, Any]:
    """Train ``model_spec`` on keys [m, d] and queries [n, d] from ``.npy`` files; save it to ``out_path``.

    Each query gets ``noise_copies`` noisy copies (std ``noise_std``, renormalised); the exact top-1 key of every
    row is the target. Resumes from ``<out_path>.ckpt`` if a previous run with the same inputs and settings was
    interrupted; a checkpoint from other inputs or settings (or a corrupt one) is an error naming the differing
    field, unless ``restart`` discards it. An exclusive lock on ``out_path`` stops a second process from writing
    the same model. Returns the train info stored in the model file.

    Validation (for ``train_spec.select = 'best_val'`` and the logged validation metrics): the queries in
    ``val_queries_path`` (labelled with their exact top-1, no noise copies; then every training row is used), or else
    a ``val_fraction`` of the training queries, split by source (``val_split='by_source'``: no noisy copy of a
    validation query is trained on) or by row (``'pooled'``).

    With ``train_spec.retrieval`` (:mod:`amips.training.retrieval`), the term trains on the partition of the faiss IVF index
    ``ivf_index_path`` (over the same keys), or else of one built here (⌊√m⌋ lists, seed 0) and saved as
    ``<out_path>.ivf`` so that the model can be searched with the index it was trained for.

    ``out_path`` (and that index) may be neither an input nor a file that amips did not write (unless ``overwrite``);
    error messages name the ``amips fit`` options. ``cap_batch``: a batch larger than the training rows becomes all of
    them (logged) instead of an error (for a preset's batch size on a small data set).

    With ``with_baselines`` the returned info holds ``baselines`` (:func:`amips.evaluation.baselines.baselines`): the
    query itself and IVF probing with x vs ĝ on the validation queries (the training queries without a validation
    split), on the retrieval term's index or else one built here (⌊√m⌋ lists, seed 0, not saved).
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
        configure_torch(threads, device)
        ds = load_key_query_files(keys_path, queries_path)
        label_cfg = {"noise_copies": noise_copies, "noise_std": noise_std, "seed": seed, "num_clusters": 1,
                     "val_fraction": 0.0 if val_queries_path is not None else val_fraction, "val_split": val_split}
        labels = label_queries(ds.keys, ds.queries, label_cfg, device)
        log.info("labelled %d rows (%d queries × %d) over %d keys in %.2f s", labels.queries.shape[0],
                 ds.queries.shape[0], 1 + noise_copies, ds.keys.shape[0], labels.seconds)
        rows, val_rows = carve_validation(np.arange(labels.queries.shape[0]), labels.source,
                                          label_cfg["val_fraction"], seed, by_source=val_split == "by_source")
        train_q, train_t = labels.queries[rows], labels.targets[rows]
        if val_queries_path is not None:
            val_q = load_key_query_files(keys_path, val_queries_path, "--val-queries").queries
            val_t = exact_topk(val_q, ds.keys, 1, device=device)[1]
            label_cfg["val_queries"] = array_digest(val_q)
        else:
            val_q, val_t = labels.queries[val_rows], labels.targets[val_rows]
        if cap_batch and train_spec.batch_size > train_q.shape[0]:
            log.info("batch size %d exceeds the %d training rows: training on batches of all %d", train_spec.batch_size,
                     train_q.shape[0], train_q.shape[0])
            train_spec = replace(train_spec, batch_size=int(train_q.shape[0]))
        ivf, index_source = _index(ds.keys, train_spec, ivf_index_path, outputs.get("IVF index output"))
        partition = Partition.from_ivf(ivf) if uses_retrieval(train_spec.retrieval) else None
        eval_fn = selection_eval_fn(ds.keys, val_q, val_t, train_q, train_t, device=device, seed=seed,
                                    partition=partition)
        if restart and ckpt.exists():
            log.info("--restart: discarding %s", ckpt)
            ckpt.unlink()
        if out_path.exists():
            log.warning("%s exists and will be replaced by the new model", out_path)
        extra = {"train_spec": asdict(train_spec), "label_config": label_cfg,
                 "data": {"keys": str(keys_path), "queries": str(queries_path), "num_queries": int(ds.queries.shape[0]),
                          "queries_sha256": array_digest(ds.queries)}}
        info, _ = train_arrays(ds.keys, train_q, train_t, out_path, ckpt, model_spec, train_spec, seed,
                               device, threads, eval_fn=eval_fn, progress=progress, extra=extra,
                               fingerprint_extra={"labels": label_cfg}, partition=partition,
                               on_stale="error", stale_hint="rerun with --restart to discard it and train from step 0")
        if "IVF index output" in outputs:  # written with the model, so that a failed fit leaves neither
            ivf.save(outputs["IVF index output"])
        ckpt.unlink(missing_ok=True)
        if with_baselines:
            held_out = val_q.shape[0] > 0
            model, _ = load_mips_model(out_path, ds.keys)
            if ivf is None:
                ivf, index_source = evaluation_index(ds.keys, None, None)
            info["baselines"] = model_baselines(
                model, ds.keys, val_q if held_out else train_q, val_t if held_out else train_t, ivf, index_source,
                "the validation split" if held_out else "the TRAINING queries: no validation split", device=device)
    return info


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
    log.info("built an IVF index of %d lists for the retrieval term; saved to %s once the model is", ivf.nlist,
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
