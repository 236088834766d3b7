"""Search with a trained model: its predicted key ĝ(x) replaces the query x in a top-k MIPS over the keys.

Exhaustive search ranks every key by ⟨ĝ(x), k_j⟩ (:func:`amips.exact.labels.exact_topk`); IVF search probes ``nprobe``
of the ``nlist`` lists of a faiss ``IndexIVFFlat`` with inner product (:mod:`amips.exact.ivf`). Results are written as
``.npz`` (``indices`` and ``scores``), ``.npy`` (indices only) or ``.json`` (both; a missing IVF result is null).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from amips.evaluation.evaluate import predict
from amips.data.io import InputError, atomic_path, atomic_save_npy, atomic_write_json
from amips.exact.labels import exact_topk
from amips.exact.ivf import default_nlist
from amips.data.arrays import finite_rows
from amips.models.factory import load_checked_model
from amips.models.networks import AmipsModel
from amips.core.resources import check_fits

OUTPUT_SUFFIXES = (".npz", ".npy", ".json")
PICKED_BYTES = 2**28  # keys gathered at once by query_scores


@dataclass(frozen=True)
class SearchResult:
    """Top-k keys of each query, best first by ⟨ĝ(x), key⟩.

    Attributes:
        indices: [n, k] int64 key rows; −1 where an IVF search found fewer than k keys in the probed lists.
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


def search(model: AmipsModel, keys: np.ndarray, queries: np.ndarray, k: int, ivf: bool = False,
           nlist: int | None = None, nprobe: int = 8, batch_size: int = 1024, device: str = "cpu",
           seed: int = 0) -> SearchResult:
    """Top-k keys [m, d] for unit queries [n, d], searched with the model's predicted keys.

    Args:
        ivf: search a faiss IVF index (``nlist`` lists, default ⌊√m⌋; ``nprobe`` ≤ nlist probed) instead of all
            keys.
        seed: seed of the IVF k-means.
    """
    m = keys.shape[0]
    if not 1 <= k <= m:
        raise InputError(f"k={k} must be between 1 and the number of keys m={m}")
    if ivf and nlist is not None and not 1 <= nlist <= m:
        raise InputError(f"nlist={nlist} must be between 1 and the number of keys m={m}")
    if ivf and nprobe < 1:
        raise InputError(f"nprobe must be >= 1, got {nprobe}")
    if ivf and nprobe > (nlist or default_nlist(m)):
        raise InputError(f"nprobe={nprobe} exceeds the index's {nlist or default_nlist(m)} lists")
    check_search_fits(queries.shape[0], k, keys.shape[1])
    pred_keys = predict(model, queries, batch_size, device)[1][:, 0, :]
    broken = ~finite_rows(pred_keys)
    if broken.any():
        raise InputError(f"the model predicts non-finite keys for {int(broken.sum())} of {len(pred_keys)} queries "
                         f"(first: query {int(np.argmax(broken))}); it is diverged or corrupted, no results written")
    if ivf:
        from amips.exact.ivf import build_ivf, ivf_search

        index = build_ivf(keys, nlist, seed=seed)
        indices = ivf_search(index, pred_keys, nprobe, k)[0].astype(np.int64)
    else:
        indices = exact_topk(pred_keys, keys, k, device=device)[1]
    return SearchResult(indices, query_scores(queries, keys, indices))


def search_bytes(num_queries: int, k: int, dim: int, json_output: bool = False) -> int:
    """Estimated peak memory of :func:`search` (then :func:`save_results` as JSON): exact top-k scores (float64)
    and indices, the returned scores, the predicted keys, the search's and :func:`query_scores`' working sets, and
    for JSON two nested lists of Python numbers (~100 bytes a result)."""
    results = (20 + (100 if json_output else 0)) * num_queries * k
    return results + 4 * num_queries * dim + 24 * 2048 * (65536 + k) + PICKED_BYTES


def check_search_fits(num_queries: int, k: int, dim: int, json_output: bool = False) -> None:
    """``InputError`` with the estimate if the top-``k`` search of ``num_queries`` queries cannot fit in memory."""
    check_fits(search_bytes(num_queries, k, dim, json_output),
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


def predict_keys(model_path: str | Path, queries_path: str | Path, batch_size: int = 1024,
                 device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """The model's predicted keys and scores for the (L2-normalised) queries of a ``.npy`` file [n, d].

    Returns (keys [n, d], scores [n]) for a MIPS model, (keys [n, C, d], scores [n, C]) for a C-output router.
    Raises ``InputError`` if the file does not fit the model or any prediction is not finite.
    """
    from amips.data.sets import unit_queries
    from amips.data.io import load_embeddings
    from amips.models.factory import check_model_dim, load_payload, model_from_payload

    model = model_from_payload(load_payload(model_path), str(model_path))
    queries = load_embeddings(queries_path, "queries")
    check_model_dim(model, queries.shape[1], model_path)
    scores, keys = predict(model, unit_queries(queries, queries_path), batch_size, device)
    broken = ~finite_rows(scores, keys)
    if broken.any():
        raise InputError(f"the model predicts non-finite keys or scores for {int(broken.sum())} of {len(keys)} "
                         f"queries (first: query {int(np.argmax(broken))}); it is diverged or corrupted")
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
