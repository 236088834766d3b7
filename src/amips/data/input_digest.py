"""Content digests of the files a dataset reads from the user, so that the workflow sees content, not only mtimes.

Snakemake reruns a job when an input is newer than its outputs, which misses a file replaced by another with an
older or preserved modification time (``cp -p``, ``mv``, a restore from a backup). The workflow adds the digests
of :func:`dataset_digests` to the dataset entry it passes to rule make_dataset or embed (``input_sha256``): new
content changes that parameter, and Snakemake's params trigger reruns the job and everything downstream.

Hashing a large corpus at every start of the workflow would be slow, so :class:`DigestCache` keeps each digest
in a JSON file under the file's (size, mtime_ns, ctime_ns, inode, device): the ctime changes on every write,
``cp -p``, ``mv`` or restore even when the mtime is kept, so a file is read again exactly when it may have changed.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from amips.data.io import InputError, atomic_write_json
from amips.data.state_files import parse_state_json, read_state_text
from amips.data.manifest import file_sha256
from amips.data.text import beir, wordnet
from amips.data.text.wikipedia import summaries_file

MISSING = "missing"  # the digest of an absent or unreadable file (its job reports it)


def dataset_files(spec: dict[str, Any]) -> dict[str, Path]:
    """role → path of each file a dataset entry reads from the user: the ``npy`` keys and queries, a BEIR
    directory's corpus and queries, the WordNet data files, the Wikipedia summaries; none for synthetic data."""
    source = spec.get("source")
    if source == "npy":
        return {"keys": Path(spec["keys"]), "queries": Path(spec["queries"])}
    if source == "beir":
        return {name: Path(spec["root"]) / name for name in beir.FILES}
    if source == "wordnet":
        root = Path(spec.get("root") or wordnet.DEFAULT_ROOT)
        return {f"data.{pos}": root / f"data.{pos}" for pos in wordnet.POS_FILES}
    if source == "wikipedia":
        try:
            return {"summaries": summaries_file(spec.get("root"))}
        except InputError:  # the corpus package is not installed: the embed job says so
            return {}
    return {}


class DigestCache:
    """Hex SHA-256 of files, remembered in the JSON file ``path`` under each file's stat key (see the module)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            entries = parse_state_json(read_state_text(self.path, "digest cache"), "digest cache")
        except (OSError, ValueError):  # none yet, unreadable, not a file, too deep: start afresh (InputError too)
            entries = {}
        self._entries: dict[str, Any] = entries if isinstance(entries, dict) else {}

    def sha256(self, path: Path) -> str:
        """The digest of ``path``'s bytes (read only when its stat key changed), or :data:`MISSING`."""
        try:
            info = path.stat()
        except OSError:
            return MISSING
        if not stat.S_ISREG(info.st_mode):
            return MISSING
        key = str(path.resolve())
        stamp = [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev]
        entry = self._entries.get(key)
        if isinstance(entry, dict) and entry.get("stat") == stamp and isinstance(entry.get("sha256"), str):
            return entry["sha256"]
        try:
            digest = file_sha256(path)
        except OSError:
            return MISSING
        self._entries[key] = {"stat": stamp, "sha256": digest}
        try:
            atomic_write_json(self.path, self._entries)
        except OSError:  # a read-only working directory: hash again next time
            pass
        return digest


def dataset_digests(spec: dict[str, Any], cache: DigestCache) -> dict[str, str]:
    """role → SHA-256 of each file of :func:`dataset_files` (:data:`MISSING` for an absent one)."""
    return {role: cache.sha256(path) for role, path in dataset_files(spec).items()}
