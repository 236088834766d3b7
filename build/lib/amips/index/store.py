"""Faiss index files: written atomically, read back refused in one line unless they hold exactly the given keys.

:func:`check_holds` compares what an index stores with the keys it is to search, by key row: its size and dimension,
then its codes bit for bit — the float32 keys themselves in a flat index (IVF-Flat, the HNSW graph's storage, a flat
index), the keys' codes under the index's own trained quantiser in a compressed one (PQ, SQ8, IVF-PQ: the list of each
key and its code) — so an index built over other keys, even of the same shape, is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np

from amips.data.io import InputError, atomic_path

CHECK_ROWS = 1 << 16  # stored vectors compared with the keys at a time


def write_faiss(index: Any, path: str | Path) -> None:
    """Write a faiss index atomically (recorded as written by amips)."""
    import faiss

    with atomic_path(path) as tmp:
        faiss.write_index(index, str(tmp))


def read_faiss(path: str | Path, where: str) -> Any:
    """The faiss index in the file ``path`` (as its own class); errors start with ``where``."""
    import faiss

    path = Path(path)
    if not path.exists():
        raise InputError(f"{where}: file not found")
    if path.is_dir():
        raise InputError(f"{where}: is a directory, not a faiss index file")
    try:
        return faiss.read_index(str(path))
    except RuntimeError as exc:
        raise InputError(f"{where}: not a faiss index file (corrupt, truncated or another format)") from exc


def metric_name(metric: int) -> str:
    """``inner product`` / ``L2`` for a faiss metric type."""
    import faiss

    return {faiss.METRIC_L2: "L2", faiss.METRIC_INNER_PRODUCT: "inner product"}.get(metric, str(metric))


def _view(ptr: Any, rows: int, width: int) -> np.ndarray:
    import faiss

    return np.asarray(faiss.rev_swig_ptr(ptr, rows * width)).reshape(rows, width)


def _blocks(rows: np.ndarray, codes: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, None]]:
    for start in range(0, rows.size, CHECK_ROWS):
        yield rows[start : start + CHECK_ROWS], codes[start : start + CHECK_ROWS], None


def stored_codes(index: Any) -> Iterator[tuple[np.ndarray, np.ndarray, int | None]]:
    """(key rows [b], stored codes [b, code_size] uint8 (views), their inverted list or None) blocks of an IVF,
    HNSW or flat-codes index."""
    import faiss

    if isinstance(index, faiss.IndexIVF):
        invlists = index.invlists
        for lst in range(index.nlist):
            size = int(invlists.list_size(lst))
            if size:
                ids = np.asarray(faiss.rev_swig_ptr(invlists.get_ids(lst), size), np.int64)
                yield ids, _view(invlists.get_codes(lst), size, invlists.code_size), lst
        return
    flat = faiss.downcast_index(index.storage) if isinstance(index, faiss.IndexHNSW) else index
    yield from _blocks(np.arange(flat.ntotal), _view(flat.codes.data(), flat.ntotal, flat.code_size))


def expected_codes(index: Any, keys: np.ndarray, lst: int | None) -> np.ndarray:
    """The codes [b, code_size] uint8 that ``index`` stores for keys [b, d] (in list ``lst`` of an IVF index): the
    float32 keys' bytes in a flat index; else the index's own encoding, whose list must be ``lst``."""
    import faiss

    keys = np.ascontiguousarray(keys, np.float32)
    if isinstance(index, (faiss.IndexIVFFlat, faiss.IndexHNSWFlat, faiss.IndexFlat)):
        return keys.view(np.uint8)
    codes = index.sa_encode(keys)
    if lst is None:
        return codes
    coarse = index.coarse_code_size()
    lists = (codes[:, :coarse].astype(np.int64) << (8 * np.arange(coarse))).sum(axis=1)
    codes = np.ascontiguousarray(codes[:, coarse:])
    codes[lists != lst] ^= 0xFF  # assigned to another list: not what is stored
    return codes


def check_shape(index: Any, keys: np.ndarray, where: str, keys_name: str = "--keys") -> None:
    """Refuse ``index`` (errors start with ``where``) unless it holds as many keys as [m, d], of that dimension."""
    m, d = keys.shape
    if index.ntotal != m:
        raise InputError(f"{where}: built over {index.ntotal} keys, {keys_name} has {m}")
    if index.d != d:
        raise InputError(f"{where}: built over keys of dimension {index.d}, {keys_name} has dimension {d}")


def check_codes(index: Any, keys: np.ndarray, name: str, path: str | Path, keys_name: str = "--keys") -> None:
    """Refuse ``index``, read from ``path`` (errors start with ``<name> <path>:``), unless its codes are those of the
    keys [m, d] by row (module docstring); its ids must be key rows (:func:`check_shape` first)."""
    m, d = keys.shape
    for rows, stored, lst in stored_codes(index):
        expected = expected_codes(index, keys[rows], lst)
        if not np.array_equal(stored, expected):
            bad = rows[np.flatnonzero((stored != expected).any(axis=1))]
            raise InputError(f"{name} {path}: built over other keys than {keys_name} (same {m} × {d}, key row "
                             f"{int(bad.min())} differs); give the index built over these keys, or a new {name} path")
