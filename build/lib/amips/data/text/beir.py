"""A local BEIR-format dataset directory as a retrieval corpus.

BEIR layout: ``corpus.jsonl`` with one ``{"_id", "title", "text"}`` object per line and
``queries.jsonl`` with one ``{"_id", "text"}`` object per line (qrels are not needed here).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

from amips.data.io import InputError
from amips.data.text.corpus import TextCorpus

FILES = ("corpus.jsonl", "queries.jsonl")  # the files of a BEIR directory that are read


def read_jsonl(path: Path, required: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a ``.jsonl`` file, skipping blank lines.

    Raises:
        InputError: missing file, or a line that is not a JSON object with string values for all
            ``required`` fields (the message names the file and line number).
    """
    if not path.is_file():
        raise InputError(f"BEIR file not found: {path}")
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise InputError(f"{path}:{lineno}: invalid JSON ({exc})") from exc
            if not isinstance(obj, dict):
                raise InputError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            for field in required:
                if not isinstance(obj.get(field), str):
                    raise InputError(f"{path}:{lineno}: field {field!r} missing or not a string")
            yield obj


def load_beir(root: str | os.PathLike) -> TextCorpus:
    """Load ``root/corpus.jsonl`` and ``root/queries.jsonl`` as a :class:`TextCorpus` (no gold).

    A key text is ``title + " " + text`` (stripped; ``title`` may be absent or empty).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"BEIR dataset directory not found: {root}")
    keys = []
    corpus_file, queries_file = (root / name for name in FILES)
    for doc in read_jsonl(corpus_file, required=("text",)):
        title = doc.get("title")
        keys.append(f"{title if isinstance(title, str) else ''} {doc['text']}".strip())
    queries = [q["text"] for q in read_jsonl(queries_file, required=("text",))]
    return TextCorpus(keys=keys, queries=queries, name=f"beir-{root.name}")
