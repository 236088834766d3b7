"""The dataset stage (rule make_dataset, workflow/rules/data.smk): a key/query set from a dataset config entry
(synthetic or the user's ``.npy`` files), written as one dataset folder."""

from __future__ import annotations

import inspect
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from amips.data.sets import KeyQuerySet, gaussian_sphere, load_key_query_files, structured_embeddings
from amips.data.io import InputError, atomic_save_npy, atomic_write_json
from amips.data.locks import exclusive_lock
from amips.data.manifest import remove_manifest, write_manifest
from amips.core.resources import check_fits
from amips.core.schema import section


def make_dataset(spec: dict[str, Any], out_dir: str | Path) -> dict[str, Any]:
    """Create a key/query set from a dataset config entry and write it to ``out_dir``.

    ``spec['source']``: ``gaussian`` | ``structured`` (synthetic; num_keys, num_queries, dim, seed, options) or
    ``npy`` (keys, queries: paths to user ``.npy`` files). Holds the lock on ``out_dir`` throughout.
    """
    with exclusive_lock(out_dir, "dataset writer"):
        return _make_dataset(spec, out_dir)


def _generator_default(make: Any, option: str) -> Any:
    """The default of a synthetic generator's keyword ``option`` (its signature is where it is written)."""
    return inspect.signature(make).parameters[option].default


def _make_dataset(spec: dict[str, Any], out_dir: str | Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    spec = section("datasets.*", spec, validate=False)  # the schema's defaults for what the entry leaves out
    source = spec["source"]
    if source in ("gaussian", "structured"):
        make = gaussian_sphere if source == "gaussian" else structured_embeddings
        sizes = synthetic_sizes(spec)
        # float64 points [rows, d]; the structured generator also gathers each row's basis [rows, d, r]
        rank = int(spec["options"].get("intrinsic_dim", _generator_default(make, "intrinsic_dim"))) \
            if source == "structured" else 0
        check_fits(8 * (sizes[0] + sizes[1]) * sizes[2] * (3 + max(rank, 0)),
                   f"generating {sizes[0]} keys and {sizes[1]} queries of dimension {sizes[2]}")
        held_out = int(spec.get("held_out", 0))
        ds = make(sizes[0], sizes[1] + held_out, sizes[2], seed=int(spec["seed"]), **spec["options"])
        if held_out:
            queries = ds.queries
            ds = replace(ds, queries=queries[: sizes[1]])
            return write_dataset(ds, out_dir, {"source": source, "spec": spec, "seconds": time.perf_counter() - t0},
                                 held_out=queries[sizes[1]:])
    elif source == "npy":
        ds = load_key_query_files(spec["keys"], spec["queries"])
        if "held_out_queries" in spec:  # amips dataset --held-out
            held = load_key_query_files(spec["keys"], spec["held_out_queries"], "--held-out").queries
            return write_dataset(ds, out_dir, {"source": source, "spec": spec, "seconds": time.perf_counter() - t0},
                                 held_out=held)
    else:
        raise InputError(f"unknown dataset source {source!r}; choose gaussian, structured or npy")
    return write_dataset(ds, out_dir, {"source": source, "spec": spec, "seconds": time.perf_counter() - t0})


def synthetic_sizes(spec: dict[str, Any]) -> tuple[int, int, int]:
    """(num_keys, num_queries, dim) of a synthetic dataset entry, each checked to be a positive integer."""
    sizes = []
    for name in ("num_keys", "num_queries", "dim"):
        value = spec.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"dataset {name} must be a positive integer, got {value!r}")
        sizes.append(int(value))
    return sizes[0], sizes[1], sizes[2]


def write_dataset(ds: KeyQuerySet, out_dir: str | Path, meta: dict[str, Any],
                  held_out: np.ndarray | None = None) -> dict[str, Any]:
    """Write keys, queries and ``meta`` (plus sizes) as dataset folder ``out_dir``, its manifest last; returns the
    meta. ``held_out`` queries [h, d] (more draws of the same generator, for a user's held-out evaluation) are
    written as ``held_out_queries.npy``."""
    out = Path(out_dir)
    remove_manifest(out)
    atomic_save_npy(out / "keys.npy", ds.keys)
    atomic_save_npy(out / "queries.npy", ds.queries)
    files = ["keys.npy", "queries.npy", "meta.json"]
    meta = {**meta, "num_keys": int(ds.keys.shape[0]), "num_queries": int(ds.queries.shape[0]), "dim": ds.dim}
    if held_out is not None:
        atomic_save_npy(out / "held_out_queries.npy", held_out)
        files.append("held_out_queries.npy")
        meta["num_held_out_queries"] = int(held_out.shape[0])
    atomic_write_json(out / "meta.json", meta)
    write_manifest(out, "dataset", files, {}, meta)
    return meta
