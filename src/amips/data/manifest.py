"""Folder manifests: a dataset or labels folder is one unit, usable only once its writer has finished.

A writer calls :func:`remove_manifest` before it touches any file of the folder and :func:`write_manifest` after
the last one, so a folder without ``manifest.json`` is one whose writer was killed or failed (or one not made by
amips). The manifest records, for every file the writer wrote, its size and SHA-256, plus the content digests of
the inputs the folder was made from (``inputs``, e.g. the keys of a labels folder, :func:`amips.core.fingerprint.
array_digest`) and the writer's settings. A reader calls :func:`verify_manifest`, which refuses in one line naming
the folder or file: no manifest, an unreadable or partial one, a listed file missing or changed, or inputs other
than the ones the reader was given.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from amips.data.io import InputError, atomic_write_json
from amips.data.state_files import check_regular_file, parse_state_json, read_state_text

MANIFEST = "manifest.json"
FORMAT = 1
_CHUNK = 1 << 24  # bytes hashed per read


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of the bytes of ``path`` (read in 16 MiB chunks)."""
    h = hashlib.sha256()
    with open(check_regular_file(path, "file"), "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def remove_manifest(folder: str | Path) -> None:
    """Delete ``folder``'s manifest (if any): the folder is unusable until :func:`write_manifest` runs again."""
    (Path(folder) / MANIFEST).unlink(missing_ok=True)


def write_manifest(folder: str | Path, kind: str, files: Iterable[str], inputs: Mapping[str, str],
                   settings: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``folder/manifest.json`` (atomically) listing the size and SHA-256 of each of ``files`` (names in
    ``folder``), the digests of the ``inputs`` the folder was made from and the writer's ``settings``; returns it."""
    folder = Path(folder)
    listed = {name: {"bytes": (folder / name).stat().st_size, "sha256": file_sha256(folder / name)}
              for name in sorted(files)}
    manifest = {"format": FORMAT, "kind": kind, "files": listed, "inputs": dict(inputs), "settings": dict(settings)}
    atomic_write_json(folder / MANIFEST, manifest)
    return manifest


@dataclass(frozen=True)
class Manifest:
    """A read and checked manifest of ``folder``: file name → {bytes, sha256}, input digests, settings."""

    folder: Path
    kind: str
    files: dict[str, dict[str, Any]]
    inputs: dict[str, str]
    settings: dict[str, Any]

    def lists(self, name: str) -> bool:
        """Whether the writer wrote ``name`` into the folder."""
        return name in self.files

    def verified(self, name: str) -> Path:
        """The path of listed file ``name`` after checking its size and SHA-256 against the manifest."""
        path = self.folder / name
        if name not in self.files:
            raise InputError(f"{path} is not part of {self.kind} folder {self.folder} (not in its {MANIFEST}); rerun "
                             f"the step that writes it")
        entry = self.files[name]
        if not path.is_file():
            raise InputError(f"{path} is missing: {self.kind} folder {self.folder} is incomplete; rerun the step that "
                             "writes it")
        if path.stat().st_size != entry["bytes"] or file_sha256(path) != entry["sha256"]:
            raise InputError(f"{path} changed after it was written (its size or SHA-256 differs from "
                             f"{self.folder / MANIFEST}); rerun the step that writes {self.folder}")
        return path


def verify_manifest(folder: str | Path, kind: str, expected_inputs: Mapping[str, tuple[str, str]] | None = None,
                    digests: Iterable[str] | None = None) -> Manifest:
    """Read and check ``folder``'s manifest; raise a one-line :class:`InputError` naming the folder or file if the
    folder is unusable.

    Checks: the manifest exists, parses and is of ``kind``; every listed file exists with its recorded size; the
    SHA-256 of the files in ``digests`` (default: all listed files; the others are checked by
    :meth:`Manifest.verified` when read); each input in ``expected_inputs`` (name → (digest, where the reader's
    input came from)) has the recorded digest.
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if folder.is_file():
        raise InputError(f"{folder} is a file, but a {kind} folder is expected here (give the folder that holds "
                         f"it: {folder.parent})")
    if not folder.is_dir():
        raise InputError(f"{kind} folder not found: {folder}")
    if not path.exists():
        raise InputError(f"{kind} folder {folder} has no {MANIFEST}: its writer was killed or failed before it "
                         "finished (or it was not made by amips); rerun the step that writes it")
    manifest = _read(path, kind)
    for name, entry in manifest.files.items():
        file = folder / name
        if not file.is_file():
            raise InputError(f"{file} is missing: {kind} folder {folder} is incomplete; rerun the step that writes it")
        if file.stat().st_size != entry["bytes"]:
            raise InputError(f"{file} changed after it was written (its size differs from {path}); rerun the step "
                             f"that writes {folder}")
    for name in manifest.files if digests is None else digests:
        manifest.verified(name)
    for name, (digest, source) in (expected_inputs or {}).items():
        recorded = manifest.inputs.get(name)
        if recorded != digest:
            raise InputError(f"{kind} folder {folder} was made from other {name} than {source} ({name} digest "
                             f"{_short(recorded)} in {path}, {_short(digest)} given); rerun the {kind} step on them")
    return manifest


def _read(path: Path, kind: str) -> Manifest:
    """The manifest at ``path``, checked to be complete and of ``kind``."""
    try:
        raw = parse_state_json(read_state_text(path, "manifest"), "manifest")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path} is unreadable or partial ({type(exc).__name__}); rerun the step that writes "
                         f"{path.parent}") from None
    fields = ("format", "kind", "files", "inputs", "settings")
    well_formed = (isinstance(raw, dict) and all(f in raw for f in fields) and isinstance(raw["files"], dict)
                   and isinstance(raw["inputs"], dict) and isinstance(raw["settings"], dict)
                   and all(isinstance(e, dict) and isinstance(e.get("bytes"), int) and isinstance(e.get("sha256"), str)
                           for e in raw["files"].values()))
    if not well_formed:
        raise InputError(f"{path} is partial or malformed (expected the fields {', '.join(fields)}); rerun the step "
                         f"that writes {path.parent}")
    if raw["format"] != FORMAT or raw["kind"] != kind:
        raise InputError(f"{path.parent} is a {raw['kind']} folder (manifest format {raw['format']}), expected a "
                         f"{kind} folder (format {FORMAT})")
    return Manifest(path.parent, kind, raw["files"], raw["inputs"], raw["settings"])


def _short(digest: str | None) -> str:
    """``sha256:0123456789ab…`` of a digest, or ``none``."""
    return "none" if digest is None else digest[:19] + "…"
