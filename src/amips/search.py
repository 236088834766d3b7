"""Top-k MIPS from the command line's library side: with the query x itself, or a model's predicted key ĝ(x).

Without a model the query searches for itself: exactly over all keys (:class:`amips.index.exact.ExactIndex`), or
through an index of :mod:`amips.index` (IVF, HNSW, …) — the baseline a model is compared with. With a
model its predicted key ĝ(x) is the probe: over all keys it ranks every key by ⟨ĝ(x), k_j⟩; through an index it
selects the candidates (the probed IVF lists, the HNSW walk), which the query x then ranks exactly
(``rerank='query'``, the default) or which keep the index's own order by ĝ(x) (``rerank='none'``). Results are
written as ``.npz`` (``indices`` and ``scores``), ``.npy`` (indices only) or ``.json`` (both; a missing result is
null); :func:`recall` scores them against exact top-1 targets (:func:`read_targets`, :func:`labels_targets`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from amips.evaluation.evaluate import predict
from amips.data.io import InputError, atomic_path, atomic_save_npy, atomic_write_json
from amips.index.base import EVERY, Index
from amips.index.exact import ExactIndex
from amips.index.hnsw import HNSW_EF_SEARCH, HnswIndex
from amips.data.arrays import finite_rows
from amips.models.factory import load_checked_model
from amips.models.networks import AmipsModel
from amips.core.resources import check_fits

__all__ = ["OUTPUT_SUFFIXES", "PICKED_BYTES", "RERANKS", "SearchResult", "check_output_path", "check_search_fits",
    "checked_predictions", "default_rerank", "labels_targets", "load_mips_model", "predict_keys", "query_scores",
    "read_targets", "recall", "save_predictions", "save_results", "search", "search_bytes"]

OUTPUT_SUFFIXES = (".npz", ".npy", ".json")
RERANKS = ("query", "none")
PICKED_BYTES = 2**28  # keys gathered at once by query_scores


@dataclass(frozen=True)
class SearchResult:
    """Top-k keys of each query, best first by ⟨ĝ(x), key⟩.

    Attributes:
        indices: [n, k] int64 key rows; −1 where an index search found fewer than k keys (the probed IVF lists, the
            HNSW walk).
        scores: [n, k] float32 inner products ⟨x, key⟩ of the (unit-normalised) query with each returned key;
            −inf where the index is −1.
    """

    indices: np.ndarray
    scores: np.ndarray


def load_mips_model(path: str | Path, keys: np.ndarray, allow_other_keys: bool = False) -> tuple[AmipsModel, dict[str, Any]]:
    """A saved single-output model for keys [m, d] (checked by :func:`amips.models.factory.load_checked_model`),
    and its file's payload (spec, train info)."""
    model, payload = load_checked_model(path, keys, allow_other_keys)
    if model.num_outputs != 1:
        raise InputError(f"model {path} is a cluster router with {model.num_outputs} outputs, not a MIPS model")
    return model, payload


def search(model: AmipsModel | None, keys: np.ndarray, queries: np.ndarray, k: int, index: Index | None = None,
           probe: int | None = None, rerank: str | None = None, batch_size: int = 1024,
           device: str = "cpu") -> SearchResult:
    """Top-k keys [m, d] for unit queries [n, d], searched with the model's predicted keys (``model`` None: with the
    queries themselves).

    Args:
        index: the index to search, built or loaded over ``keys`` (:mod:`amips.index`, e.g.
            ``IvfFlatIndex(nlist).build(keys)`` or ``HnswIndex().open(path, keys)[0]``); None: all keys, exactly.
        probe: the index's operating point (IVF: lists probed, at most its nlist; HNSW: efSearch, at least k);
            None: the index's default.
        rerank: 'query' — the index's candidates (every key of the probed lists, the walk's max(ef, k) keys) ranked
            exactly by the query; 'none' — the index's own top-k by the probe. Default (None): 'query' through an
            index, 'none' over all keys, where 'query' with a model is an error (it would be the exact search of the
            query itself).
    """
    m = keys.shape[0]
    if not 1 <= k <= m:
        raise InputError(f"k={k} must be between 1 and the number of keys m={m}")
    if index is not None and index.num_keys != m:
        raise InputError(f"the index holds {index.num_keys} keys, the keys are {m}")
    rerank = default_rerank(index) if rerank is None else rerank
    if rerank not in RERANKS:
        raise InputError(f"unknown rerank {rerank!r}; choose one of {', '.join(RERANKS)}")
    if default_rerank(index) == "none" and rerank == "query" and model is not None:
        raise InputError("rerank='query' needs an IVF or HNSW index: over all keys it is the exact search of the "
                         "query itself (no model)")
    hnsw = isinstance(index, HnswIndex)
    check_search_fits(queries.shape[0], k, keys.shape[1], candidates=max(probe or HNSW_EF_SEARCH, k) if hnsw else 0)
    probes = queries if model is None else checked_predictions(model, queries, batch_size, device)[1][:, 0, :]
    if index is None:
        index = ExactIndex(device).build(keys)
    exact = rerank == "query" and not isinstance(index, ExactIndex)
    point = {} if probe is None else {"probe": probe}
    indices = index.search(probes, k, rerank=EVERY if exact else 0, queries=queries if exact else None,
                           **point).indices
    return SearchResult(indices, query_scores(queries, keys, indices))


def default_rerank(index: Index | None) -> str:
    """The rerank of :func:`search` when none is given: 'query' through an index, 'none' over all keys."""
    return "none" if index is None or isinstance(index, ExactIndex) else "query"


def checked_predictions(model: AmipsModel, queries: np.ndarray, batch_size: int = 1024,
                        device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """The model's batched predictions for unit queries [n, d]: scores [n, C] and keys [n, C, d]
    (:func:`amips.evaluation.evaluate.predict`); an ``InputError`` when any prediction is not finite."""
    scores, keys = predict(model, queries, batch_size, device)
    broken = ~finite_rows(scores, keys)
    if broken.any():
        raise InputError(f"the model predicts non-finite keys or scores for {int(broken.sum())} of {len(keys)} "
                         f"queries (first: query {int(np.argmax(broken))}); it is diverged or corrupted")
    return scores, keys


def recall(indices: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """recall@1 and recall@k of results [n, k] against each query's exact top-1 key [n]: the fraction of queries
    whose target is the first result, and among the k results."""
    k = indices.shape[1]
    hits = indices == targets[:, None]
    return {"recall@1": float(hits[:, 0].mean()), f"recall@{k}": float(hits.any(axis=1).mean())}


def read_targets(path: str | Path, num_queries: int, num_keys: int, name: str = "--targets") -> np.ndarray:
    """Exact top-1 key rows [n] int64 of the queries from a ``.npy`` file (integers [n] or [n, 1] in [0, m))."""
    from amips.data.io import load_npy

    targets = load_npy(path, f"{name} {path}")
    if targets.ndim == 2 and targets.shape[1] == 1:
        targets = targets[:, 0]
    if targets.ndim != 1 or not np.issubdtype(targets.dtype, np.integer):
        raise InputError(f"{name} {path}: expected integer key rows [n], got {targets.dtype} {list(targets.shape)}")
    if targets.shape[0] != num_queries:
        raise InputError(f"{name} {path}: {targets.shape[0]} targets, --queries has {num_queries} rows")
    if targets.size and (targets.min() < 0 or targets.max() >= num_keys):
        raise InputError(f"{name} {path}: key rows must be in [0, {num_keys}), got values from {targets.min()} to "
                         f"{targets.max()}")
    return targets.astype(np.int64)


def labels_targets(labels_dir: str | Path, keys: np.ndarray, keys_path: str | Path, queries: np.ndarray,
                   name: str = "--labels") -> tuple[np.ndarray, str]:
    """(exact top-1 targets [n], split name) of the split of an amips labels folder whose queries are ``queries``.

    The folder is verified against ``keys`` (:func:`amips.data.folders.open_labels`); its split (test, val or train)
    whose queries, unit-normalised, equal ``queries`` bit for bit is the one scored — so ``--queries`` must be that
    split's ``<split>_queries.npy`` (or the same array). Router labels (per-cluster targets) are refused.
    """
    from amips.data.folders import open_labels
    from amips.data.io import load_npy
    from amips.data.sets import normalize_rows

    folder = open_labels(labels_dir, keys, keys_path)
    for split in ("test", "val", "train"):
        if not folder.has(split):
            continue
        rows = load_npy(folder.manifest.verified(f"{split}_queries.npy"), f"{split} queries", mmap=True).shape[0]
        if rows != queries.shape[0]:
            continue
        split_queries, targets = folder.split(split)
        if np.array_equal(normalize_rows(split_queries), queries):
            if targets.shape[1] != 1:
                raise InputError(f"{name} {labels_dir}: per-cluster router labels ({targets.shape[1]} targets a "
                                 "query), not exact top-1 MIPS labels")
            return targets[:, 0], split
    raise InputError(f"{name} {labels_dir}: none of its splits holds the --queries queries; give a split's "
                     f"queries file (e.g. {Path(labels_dir) / 'test_queries.npy'}) as --queries, or use --targets "
                     "or --exact-recall")


def search_bytes(num_queries: int, k: int, dim: int, json_output: bool = False, candidates: int = 0) -> int:
    """Estimated peak memory of :func:`search` (then :func:`save_results` as JSON): exact top-k scores (float64)
    and indices, the returned scores, the predicted keys, the search's and :func:`query_scores`' working sets,
    ``candidates`` per query re-ranked (HNSW: rows, columns and scores of each pair), and for JSON two nested lists
    of Python numbers (~100 bytes a result)."""
    results = (20 + (100 if json_output else 0)) * num_queries * k + 40 * num_queries * candidates
    return results + 4 * num_queries * dim + 24 * 2048 * (65536 + k) + PICKED_BYTES


def check_search_fits(num_queries: int, k: int, dim: int, json_output: bool = False, candidates: int = 0) -> None:
    """``InputError`` with the estimate if the top-``k`` search of ``num_queries`` queries cannot fit in memory."""
    check_fits(search_bytes(num_queries, k, dim, json_output, candidates),
               f"searching the top {k} keys of {num_queries} queries{' (JSON output)' if json_output else ''}")


def query_scores(queries: np.ndarray, keys: np.ndarray, indices: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """⟨queries[i], keys[indices[i, j]]⟩ [n, k] float32 (−inf where the index is −1), at most ``chunk`` rows (and
    ``PICKED_BYTES`` of gathered keys) at once."""
    out = np.empty(indices.shape, np.float32)
    chunk = max(1, min(chunk, PICKED_BYTES // (4 * max(1, indices.shape[1] * keys.shape[1]))))
    for start in range(0, indices.shape[0], chunk):
        idx = indices[start : start + chunk]
        picked = np.asarray(keys, np.float32)[np.maximum(idx, 0)]
        out[start : start + chunk] = np.einsum("nd,nkd->nk", queries[start : start + chunk], picked)
    out[indices < 0] = -np.inf
    return out


def check_output_path(path: str | Path) -> Path:
    """``path`` if its suffix is a supported result format, else an ``InputError`` naming it."""
    path = Path(path)
    if path.suffix not in OUTPUT_SUFFIXES:
        raise InputError(f"output file {path} must end in one of {', '.join(OUTPUT_SUFFIXES)}")
    return path


def save_results(path: str | Path, result: SearchResult) -> None:
    """Write ``result`` atomically in the format given by the suffix of ``path`` (see the module docstring)."""
    path = check_output_path(path)
    if path.suffix == ".npz":
        with atomic_path(path, suffix=".tmp.npz") as tmp:
            np.savez(tmp, indices=result.indices, scores=result.scores)
    elif path.suffix == ".npy":
        atomic_save_npy(path, result.indices)
    else:
        scores = [[float(s) if i >= 0 else None for i, s in zip(row_i, row_s)]
                  for row_i, row_s in zip(result.indices.tolist(), result.scores.tolist())]
        atomic_write_json(path, {"indices": result.indices.tolist(), "scores": scores})


def predict_keys(model: AmipsModel | str | Path, queries: np.ndarray | str | Path, batch_size: int = 1024,
                 device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """The model's predicted keys and scores for queries [n, d] (an array or a ``.npy`` file; L2-normalised first, as
    in training): what ``amips predict`` writes, from Python.

    ``model`` is a model (e.g. from :func:`amips.load_model`) or a model file. Returns (keys [n, d], scores [n]) for
    a MIPS model, (keys [n, C, d], scores [n, C]) for a C-output router — the torch method ``model.predict(x)`` keeps
    the cluster axis for every model ([n, C, d], C = 1 for MIPS). Raises ``InputError`` if the queries do not fit
    the model or any prediction is not finite.
    """
    from amips.data.io import load_embeddings, validate_embeddings
    from amips.data.sets import unit_queries
    from amips.models.factory import check_model_dim, load_payload, model_from_payload

    if isinstance(model, (str, Path)):
        model_path = model
        model = model_from_payload(load_payload(model_path), str(model_path))
    else:
        model_path = "the model"
    where = str(queries) if isinstance(queries, (str, Path)) else "queries"
    queries = (load_embeddings(queries, "queries") if isinstance(queries, (str, Path))
               else validate_embeddings(queries, "queries"))
    check_model_dim(model, queries.shape[1], model_path)
    scores, keys = checked_predictions(model, unit_queries(queries, where), batch_size, device)
    if model.num_outputs == 1:
        return keys[:, 0, :], scores[:, 0]
    return keys, scores


def save_predictions(path: str | Path, keys: np.ndarray, scores: np.ndarray) -> None:
    """Write predicted keys (``.npy``) or keys and scores (``.npz``) atomically."""
    path = Path(path)
    if path.suffix == ".npy":
        atomic_save_npy(path, keys)
    elif path.suffix == ".npz":
        with atomic_path(path, suffix=".tmp.npz") as tmp:
            np.savez(tmp, keys=keys, scores=scores)
    else:
        raise InputError(f"output file {path} must end in .npy or .npz")
