"""Reading dataset and labels folders, each verified against its manifest (:mod:`amips.data.manifest`) first.

* dataset folder: ``keys.npy`` [m, d], ``queries.npy`` [n, d], ``meta.json``; inputs: none recorded
* labels folder: ``{train,val,test}_{queries,targets,source}.npy``, ``centroids.npy``, ``assignments.npy``,
  ``meta.json``; inputs: the :func:`amips.core.fingerprint.array_digest` of the keys and queries it was made from

A labels folder is opened against the keys the reader was given (:func:`open_labels`): labels made from other keys
are refused, and every target is checked to be an integer row of those keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from amips.core.fingerprint import array_digest
from amips.data.io import InputError, load_embeddings, load_npy
from amips.data.manifest import Manifest, verify_manifest

DATASET, LABELS = "dataset", "labels"


def load_dataset(dataset_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Keys [m, d] and queries [n, d] (float32) of a verified dataset folder."""
    manifest = verify_manifest(dataset_dir, DATASET)
    keys = load_embeddings(manifest.verified("keys.npy"), "keys")
    return keys, load_embeddings(manifest.verified("queries.npy"), "queries", dim=keys.shape[1])


def dataset_keys(dataset_dir: str | Path) -> Path:
    """The path of the keys file of a verified dataset folder."""
    return verify_manifest(dataset_dir, DATASET).verified("keys.npy")


def check_targets(targets: np.ndarray, path: Path, num_keys: int) -> np.ndarray:
    """``targets`` as int64 after checking that they are integers in [0, ``num_keys``) (rows of the keys)."""
    if not np.issubdtype(targets.dtype, np.integer):
        raise InputError(f"targets {path} must be integer key indices, got dtype {targets.dtype}")
    if targets.size and (targets.min() < 0 or targets.max() >= num_keys):
        raise InputError(f"targets {path} must be key indices in [0, {num_keys}), got values from {targets.min()} to "
                         f"{targets.max()}")
    return targets.astype(np.int64, copy=False)


@dataclass(frozen=True)
class LabelsFolder:
    """A labels folder whose manifest was verified against keys [m, d]; its files are digest-checked when read."""

    manifest: Manifest
    num_keys: int
    dim: int

    @property
    def path(self) -> Path:
        return self.manifest.folder

    def has(self, split: str) -> bool:
        """Whether the folder holds split ``split`` with at least one row (labels may have no validation rows)."""
        name = f"{split}_queries.npy"
        return (self.manifest.lists(name)
                and load_npy(self.manifest.verified(name), f"{split} queries", mmap=True).shape[0] > 0)

    def split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Queries [N, d] float32 and targets [N, C] int64 (key indices) of ``split`` (train, val or test)."""
        queries = load_embeddings(self.manifest.verified(f"{split}_queries.npy"), f"{split} queries", dim=self.dim)
        targets = self.targets(split)
        if targets.shape[0] != queries.shape[0]:
            raise InputError(f"targets {self.path / f'{split}_targets.npy'} have shape {targets.shape}, expected "
                             f"[{queries.shape[0]}, C]")
        return queries, targets

    def targets(self, split: str) -> np.ndarray:
        """Targets [N, C] int64 of ``split``, checked to be rows of the keys."""
        path = self.manifest.verified(f"{split}_targets.npy")
        targets = load_npy(path, f"{split} targets")
        if targets.ndim != 2:
            raise InputError(f"targets {path} have shape {targets.shape}, expected [N, C]")
        return check_targets(targets, path, self.num_keys)

    def source(self, split: str, num_rows: int) -> np.ndarray:
        """The source query of each of the ``num_rows`` rows of ``split``: [N] int64."""
        path = self.manifest.verified(f"{split}_source.npy")
        source = load_npy(path, f"{split} source")
        if source.shape != (num_rows,) or not np.issubdtype(source.dtype, np.integer):
            raise InputError(f"source {path} is {source.dtype} {list(source.shape)}, expected integers [{num_rows}]")
        return source.astype(np.int64, copy=False)

    def array(self, name: str, what: str) -> np.ndarray:
        """Another listed array of the folder (``centroids``, ``assignments``)."""
        return load_npy(self.manifest.verified(f"{name}.npy"), what)

    def meta(self) -> dict[str, Any]:
        """The labels stage's ``meta.json`` (settings, sizes, measured seconds)."""
        return json.loads(self.manifest.verified("meta.json").read_text(encoding="utf-8"))


def open_labels(labels_dir: str | Path, keys: np.ndarray, keys_source: str | Path) -> LabelsFolder:
    """The labels folder ``labels_dir`` after checking its manifest and that it was made from ``keys`` [m, d]
    (read from ``keys_source``, named in the error)."""
    manifest = verify_manifest(labels_dir, LABELS, {"keys": (array_digest(keys), str(keys_source))}, digests=())
    return LabelsFolder(manifest, int(keys.shape[0]), int(keys.shape[1]))
