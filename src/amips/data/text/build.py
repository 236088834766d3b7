"""Build an embedded text dataset folder (``keys.npy``, ``queries.npy``, ``meta.json``, ``manifest.json``) from a
text source."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from amips.data.io import InputError, atomic_save_npy, atomic_write_json
from amips.data.locks import exclusive_lock
from amips.data.manifest import remove_manifest, write_manifest
from amips.data.text import encoder
from amips.data.text.beir import load_beir
from amips.data.text.corpus import TextCorpus, dedup, texts_sha256
from amips.data.text.encoder import DIM, MODEL_NAME
from amips.data.text.wikipedia import load_wikipedia
from amips.data.text.wordnet import DEFAULT_ROOT, load_wordnet

SOURCES = ("wordnet", "wikipedia", "beir")


def load_corpus(
    source: str, *, num_keys: int | None = None, variant: str | None = None,
    root: str | os.PathLike | None = None, seed: int = 0,
) -> TextCorpus:
    """Load the raw (not deduplicated) corpus of ``source``.

    ``num_keys`` and ``seed`` apply to WordNet only, ``variant`` to Wikipedia only
    (``"description"`` by default); ``root`` is the WordNet directory, the Wikipedia summaries
    file (or its directory), or the BEIR dataset directory (required for BEIR).

    Raises:
        InputError: unknown source, an option the source does not take, or unusable input files.
    """
    if source not in SOURCES:
        raise InputError(f"text source must be one of {', '.join(SOURCES)}, got {source!r}")
    if variant is not None and source != "wikipedia":
        raise InputError(f"variant applies to the wikipedia source only (got variant={variant!r} for {source})")
    if num_keys is not None and source != "wordnet":
        raise InputError(f"num_keys applies to the wordnet source only (got num_keys={num_keys} for {source})")
    if source == "wordnet":
        return load_wordnet(DEFAULT_ROOT if root is None else root, num_keys=num_keys, seed=seed)
    if source == "wikipedia":
        return load_wikipedia(variant or "description", path=root)
    if root is None:
        raise InputError("the beir source needs root: a directory with corpus.jsonl and queries.jsonl")
    return load_beir(root)


def _embed(texts: list[str], sha: str, cache_dir: Path | None, desc: str, normalize: bool, **kwargs: Any) -> np.ndarray:
    """Encode ``texts``, through a content-addressed cache file in ``cache_dir`` when given (raw embeddings,
    ``normalize=False``, under their own ``minilm-raw-*`` name)."""
    if cache_dir is None:
        return encoder.encode(texts, desc=desc, normalize=normalize, **kwargs)
    prefix = "minilm" if normalize else "minilm-raw"
    return encoder.encode_cached(texts, cache_dir / f"{prefix}-{sha[:24]}.npy", desc=desc, normalize=normalize,
                                 **kwargs)


def build_text_dataset(
    source: str, out_dir: str | os.PathLike, *, num_keys: int | None = None, variant: str | None = None,
    root: str | os.PathLike | None = None, batch_size: int = 32, threads: int = 1,
    cache_dir: str | os.PathLike | None = None, seed: int = 0, normalize: bool = True,
) -> dict[str, Any]:
    """Load, deduplicate and embed a text corpus; write it to ``out_dir``.

    Writes (each atomically) ``keys.npy`` float32 [m, 384] and ``queries.npy`` float32 [n, 384],
    unit-norm rows (``normalize=False``: the raw mean-pooled MiniLM vectors, whose norms vary, for keys and
    queries), then ``meta.json`` and last the folder's manifest (:mod:`amips.data.manifest`), holding the lock on
    ``out_dir`` while writing. Embeddings are cached in ``cache_dir`` (if given) under
    the SHA-256 of the texts, so a rebuild with unchanged texts does no encoding, and corpora
    sharing their keys (the two Wikipedia variants) encode them once.

    Returns:
        The metadata written to ``meta.json``.
    """
    start = time.perf_counter()
    raw = load_corpus(source, num_keys=num_keys, variant=variant, root=root, seed=seed)
    corpus = dedup(raw)
    if not corpus.keys or not corpus.queries:
        raise InputError(f"{raw.name}: no {'keys' if not corpus.keys else 'queries'} left after removing empty texts")
    loaded = time.perf_counter()

    out_dir = Path(out_dir)
    cache = Path(cache_dir) if cache_dir is not None else None
    options = {"batch_size": batch_size, "threads": threads, "normalize": normalize}
    keys_sha, queries_sha = texts_sha256(corpus.keys), texts_sha256(corpus.queries)
    keys = _embed(corpus.keys, keys_sha, cache, f"{raw.name} keys", **options)
    keys_done = time.perf_counter()
    queries = _embed(corpus.queries, queries_sha, cache, f"{raw.name} queries", **options)
    done = time.perf_counter()

    with exclusive_lock(out_dir, "dataset writer"):
        remove_manifest(out_dir)
        atomic_save_npy(out_dir / "keys.npy", keys)
        atomic_save_npy(out_dir / "queries.npy", queries)
        meta = {
            "source": source, "name": raw.name, "variant": variant, "root": None if root is None else str(root),
            "num_keys_requested": num_keys, "seed": seed,
            "counts": {"keys_raw": len(raw.keys), "queries_raw": len(raw.queries),
                       "keys": len(corpus.keys), "queries": len(corpus.queries)},
            "model": MODEL_NAME, "dim": DIM, "keys_sha256": keys_sha, "queries_sha256": queries_sha,
            "batch_size": batch_size, "threads": threads, "normalized": normalize,
            "seconds": {"load": round(loaded - start, 3), "encode_keys": round(keys_done - loaded, 3),
                        "encode_queries": round(done - keys_done, 3), "total": round(time.perf_counter() - start, 3)},
        }
        atomic_write_json(out_dir / "meta.json", meta)
        write_manifest(out_dir, "dataset", ("keys.npy", "queries.npy", "meta.json"), {}, meta)
    return meta
