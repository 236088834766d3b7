"""``amips.Model``: the method as an estimator on arrays (scikit-learn style; the defaults live in one signature).

    model = amips.Model().fit(keys, queries)        # keys [m, d], example queries [n, d]
    keys_hat, scores = model.predict_keys(x)         # ĝ(x) [n, d] and ŝ(x) = ⟨ĝ(x), x⟩ [n]
    result = model.search(x, k=10, index=ivf)        # top-k through an index of amips.index (None: all keys)
    model.save("model.pt"); model = amips.Model.load("model.pt", keys)

``fit`` labels every query (and ``noise_copies`` noisy copies) with its exact top-1 key, keeps a validation split
by source query, trains with the preset's recipe (``recommended``: the best measured on real text; ``official``:
the official code's settings; None: the plain defaults) and any field of :class:`amips.models.ModelSpec` or
:class:`amips.training.train.TrainSpec` given as a keyword. ``amips fit`` and :func:`amips.fit.fit_embeddings` are
file adapters over it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from amips.core.fingerprint import array_digest
from amips.core.schema import section
from amips.core.runinfo import configure_torch
from amips.data.io import InputError, validate_embeddings
from amips.data.sets import unit_queries
from amips.exact.labelling import label_queries
from amips.exact.labels import exact_topk
from amips.models import ModelSpec
from amips.models.networks import AmipsModel
from amips.training.presets import preset_fields, training_fields
from amips.training.retrieval import Partition, uses_retrieval
from amips.training.runs import TrainedRun, fit_arrays, save_run
from amips.training.train import TrainSpec
from amips.training.validation import carve_validation, selection_eval_fn

__all__ = ["Model", "TrainingData", "resolve_specs"]

log = logging.getLogger("amips.fit")
MODEL_FIELDS = {f.name for f in fields(ModelSpec)} - {"kind"}
TRAIN_FIELDS = {f.name for f in fields(TrainSpec)}


def resolve_specs(kind: str, preset: str | None, overrides: dict[str, Any]) -> tuple[ModelSpec, TrainSpec]:
    """The ModelSpec and TrainSpec of ``kind`` under ``preset`` with ``overrides`` (fields of either spec) on top;
    warm-up and validation cadence as the command line sets them (5 % of the steps, 10 evaluations a run)."""
    unknown = sorted(set(overrides) - MODEL_FIELDS - TRAIN_FIELDS)
    if unknown:
        raise InputError(f"unknown Model setting(s) {unknown}: give fields of ModelSpec or TrainSpec")
    model = {**preset_fields(preset, "homogenization", kind), **preset_fields(preset, "model", kind),
             **{k: v for k, v in overrides.items() if k in MODEL_FIELDS}}
    training = training_fields(preset, {k: v for k, v in overrides.items() if k in TRAIN_FIELDS})
    return ModelSpec(kind=kind, **model), TrainSpec(**training)


@dataclass(frozen=True)
class TrainingData:
    """What :meth:`Model.fit` trains and validates on: rows [N, d] with their exact top-1 targets [N, 1], the
    validation rows [n_v, d] / [n_v, 1], and the label settings (recorded with the model)."""

    train_queries: np.ndarray
    train_targets: np.ndarray
    val_queries: np.ndarray
    val_targets: np.ndarray
    label_config: dict[str, Any]


class Model:
    """A learned support function of a key set: SupportNet or KeyNet trained on example queries.

    Args:
        kind: ``keynet`` (regresses the argmax key) or ``supportnet`` (the key is its input gradient).
        preset: ``recommended``, ``official`` or None (plain defaults); ``**settings`` override it.
        noise_copies, noise_std: noisy copies of each query added for training (None: the preset's, else the
            config schema's labels defaults).
        val_fraction: share of the queries kept aside (by source) to select weights; ignored with ``val_queries``.
        split: ``by_source`` (no noisy copy of a validation query is trained on) or ``pooled``.
        seed, device, threads: randomness (noise, initialisation, batch order) and compute.
        **settings: fields of :class:`amips.models.ModelSpec` and :class:`amips.training.train.TrainSpec`.
    """

    def __init__(self, kind: str = "keynet", preset: str | None = "recommended", *, noise_copies: int | None = None,
                 noise_std: float | None = None, val_fraction: float | None = None, split: str | None = None,
                 seed: int = 0, device: str = "cpu", threads: int = 1, **settings: Any) -> None:
        self.model_spec, self.train_spec = resolve_specs(kind, preset, settings)
        labels = {**section("labels"), **preset_fields(preset, "labels")}
        given = {"noise_copies": noise_copies, "noise_std": noise_std, "validation_fraction": val_fraction,
                 "split": split}
        self.labels = {**labels, **{k: v for k, v in given.items() if v is not None}}
        self.seed, self.device, self.threads = seed, device, threads
        self.model_: AmipsModel | None = None
        self.keys_: np.ndarray | None = None
        self.index_: Any = None
        self.info_: dict[str, Any] = {}
        self.history_: list[dict[str, float]] = []
        self.payload_: dict[str, Any] = {}
        self.data_: TrainingData | None = None

    def training_data(self, keys: np.ndarray, queries: np.ndarray,
                      val_queries: np.ndarray | None = None) -> TrainingData:
        """Label ``queries`` [n, d] (with their noisy copies) with their exact top-1 among ``keys`` [m, d] and split
        off the validation rows (``val_queries`` [n_v, d], labelled without noise, instead when given)."""
        cfg = {"noise_copies": int(self.labels["noise_copies"]), "noise_std": float(self.labels["noise_std"]),
               "seed": self.seed, "num_clusters": 1,
               "val_fraction": 0.0 if val_queries is not None else float(self.labels["validation_fraction"]),
               "val_split": self.labels["split"]}
        labels = label_queries(keys, queries, cfg, self.device)
        log.info("labelled %d rows (%d queries × %d) over %d keys in %.2f s", labels.queries.shape[0],
                 queries.shape[0], 1 + cfg["noise_copies"], keys.shape[0], labels.seconds)
        rows, val_rows = carve_validation(np.arange(labels.queries.shape[0]), labels.source, cfg["val_fraction"],
                                          self.seed, by_source=cfg["val_split"] == "by_source")
        if val_queries is not None:
            cfg["val_queries"] = array_digest(val_queries)
            val = (val_queries, exact_topk(val_queries, keys, 1, device=self.device)[1])
        else:
            val = (labels.queries[val_rows], labels.targets[val_rows])
        return TrainingData(labels.queries[rows], labels.targets[rows], *val, cfg)

    @classmethod
    def from_specs(cls, model_spec: ModelSpec, train_spec: TrainSpec, **options: Any) -> "Model":
        """A Model with specs already resolved (the command line's); ``options`` as the constructor's."""
        model = cls(model_spec.kind, preset=None, **options)
        model.model_spec, model.train_spec = model_spec, train_spec
        return model

    def fit(self, keys: np.ndarray, queries: np.ndarray, val_queries: np.ndarray | None = None,
            index: Any = None, *, checkpoint: str | Path | None = None, progress: bool = False,
            cap_batch: bool = False) -> "Model":
        """Train on keys [m, d] and example queries [n, d] (float, finite; queries L2-normalised first).

        ``index``: the IVF-Flat index (:class:`amips.index.ivf.IvfFlatIndex`, over ``keys``) a retrieval term
        trains on; one of ⌊√m⌋ lists (seed 0) is built when the recipe has a retrieval term and none is given
        (kept as ``index_``). ``checkpoint``: a file to resume from and write to while training. ``cap_batch``: a
        batch larger than the training rows becomes all of them (logged). Returns ``self``.
        """
        keys = validate_embeddings(keys, "keys")
        queries = unit_queries(validate_embeddings(queries, "queries"), "the array", "queries")
        if val_queries is not None:
            val_queries = unit_queries(validate_embeddings(val_queries, "val_queries"), "the array", "val_queries")
        return self.fit_unit(keys, queries, val_queries, index, checkpoint=checkpoint, progress=progress,
                             cap_batch=cap_batch)

    def fit_unit(self, keys: np.ndarray, queries: np.ndarray, val_queries: np.ndarray | None = None,
                 index: Any = None, *, checkpoint: str | Path | None = None, progress: bool = False,
                 cap_batch: bool = False, stale_hint: str = "delete it to train from step 0",
                 run_name: str = "amips.Model") -> "Model":
        """:meth:`fit` on arrays already checked, with unit-norm queries (as :func:`amips.data.sets.
        load_key_query_files` returns them); ``stale_hint`` and ``run_name`` word the messages of a checkpoint
        from other settings."""
        configure_torch(self.threads, self.device)
        data = self.training_data(keys, queries, val_queries)
        spec = self.train_spec
        if cap_batch and spec.batch_size > data.train_queries.shape[0]:
            log.info("batch size %d exceeds the %d training rows: training on batches of all %d", spec.batch_size,
                     data.train_queries.shape[0], data.train_queries.shape[0])
            spec = replace(spec, batch_size=int(data.train_queries.shape[0]))
        self.index_ = self._retrieval_index(keys, index, spec)
        partition = Partition.from_ivf(self.index_) if self.index_ is not None else None
        eval_fn = selection_eval_fn(keys, data.val_queries, data.val_targets, data.train_queries, data.train_targets,
                                    device=self.device, seed=self.seed, partition=partition)
        run = fit_arrays(keys, data.train_queries, data.train_targets, self.model_spec, spec, self.seed, self.device,
                         self.threads, eval_fn, progress, checkpoint, {"labels": data.label_config}, "error",
                         stale_hint, partition, run_name=run_name)
        self._trained(run, keys, spec, data, queries)
        return self

    def _retrieval_index(self, keys: np.ndarray, index: Any, spec: TrainSpec) -> Any:
        if not uses_retrieval(spec.retrieval):
            return None
        if index is not None:
            return index
        from amips.index.ivf import build_ivf

        built = build_ivf(keys, seed=0)  # ⌊√m⌋ lists
        log.info("built an IVF index of %d lists for the retrieval term", built.nlist)
        return built

    def _trained(self, run: TrainedRun, keys: np.ndarray, spec: TrainSpec, data: TrainingData,
                 queries: np.ndarray) -> None:
        self.model_, self.info_, self.history_, self.keys_ = run.model, run.info, run.history, keys
        self.train_spec, self.data_ = spec, data
        self.payload_ = {"label_config": data.label_config,
                         "data": {"num_queries": int(queries.shape[0]), "queries_sha256": array_digest(queries)}}

    def _fitted(self) -> AmipsModel:
        if self.model_ is None:
            raise InputError("this Model is not trained: call fit(keys, queries) or Model.load(path, keys) first")
        return self.model_

    def predict_keys(self, queries: np.ndarray, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        """ĝ(x) [n, d] and ŝ(x) [n] for queries [n, d] (L2-normalised first)."""
        from amips.search import predict_keys

        return predict_keys(self._fitted(), queries, batch_size, self.device)

    def search(self, queries: np.ndarray, k: int = 1, index: Any = None, probe: int | None = None,
               rerank: str | None = None, batch_size: int = 1024) -> Any:
        """Top-k keys of each query [n, d] searched with ĝ(x): over all keys (``index`` None) or through an index of
        :mod:`amips.index` built over the fitted keys (the query re-ranks its candidates unless ``rerank='none'``);
        a :class:`amips.search.SearchResult` (indices and scores [n, k])."""
        from amips.search import search

        model = self._fitted()
        x = unit_queries(validate_embeddings(queries, "queries"), "the array", "queries")
        return search(model, self.keys_, x, k, index=index, probe=probe, rerank=rerank, batch_size=batch_size,
                      device=self.device)

    def save(self, path: str | Path, extra: dict[str, Any] | None = None) -> None:
        """Write the model (weights, spec, train info, the keys' digest, ``extra``) atomically."""
        model = self._fitted()
        run = TrainedRun(model, self.info_, self.history_)
        save_run(path, run, self.keys_, {"train_spec": asdict(self.train_spec), **self.payload_, **(extra or {})})

    @classmethod
    def load(cls, path: str | Path, keys: np.ndarray, allow_other_keys: bool = False,
             device: str = "cpu") -> "Model":
        """A saved single-output model for keys [m, d] (their digest checked unless ``allow_other_keys``)."""
        from amips.search import load_mips_model

        keys = validate_embeddings(keys, "keys")
        model, payload = load_mips_model(path, keys, allow_other_keys)
        loaded = cls(model.spec.kind, preset=None, device=device)
        loaded.model_spec, loaded.model_, loaded.keys_ = model.spec, model, keys
        loaded.info_ = dict(payload.get("train_info", {}))
        return loaded
