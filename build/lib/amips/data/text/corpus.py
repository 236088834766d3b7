"""The common in-memory form of a text retrieval corpus, and text deduplication."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class TextCorpus:
    """Key texts (the documents searched over) and query texts.

    Attributes:
        keys: the m key texts.
        queries: the n query texts.
        name: a short label for logs and metadata (e.g. ``"wordnet"``).
        gold: for each query, the index into ``keys`` of the key it was written for, or ``None``
            when the source has no such pairing. Informational only: training targets are the
            exact inner-product argmax, not these labels.
    """

    keys: list[str]
    queries: list[str]
    name: str
    gold: list[int] | None = None

    def __post_init__(self) -> None:
        if self.gold is not None and len(self.gold) != len(self.queries):
            raise ValueError(f"gold has {len(self.gold)} entries for {len(self.queries)} queries")


def dedup(corpus: TextCorpus) -> TextCorpus:
    """Drop empty and repeated key and query texts, keeping the first occurrence of each.

    Texts are compared after stripping surrounding whitespace, and the stripped text is kept.
    Gold labels are remapped to the surviving copy of their key; a repeated query keeps the gold
    label of its first occurrence, and a query whose gold key was empty loses it (gold ``-1``).
    """
    key_index: dict[str, int] = {}
    old_to_new: list[int] = []
    for text in corpus.keys:
        text = text.strip()
        if text:
            old_to_new.append(key_index.setdefault(text, len(key_index)))
        else:
            old_to_new.append(-1)

    queries: dict[str, int] = {}
    for i, text in enumerate(corpus.queries):
        text = text.strip()
        if text and text not in queries:
            queries[text] = old_to_new[corpus.gold[i]] if corpus.gold is not None else -1
    gold = list(queries.values()) if corpus.gold is not None else None
    return TextCorpus(keys=list(key_index), queries=list(queries), name=corpus.name, gold=gold)


def texts_sha256(texts: list[str]) -> str:
    """SHA-256 hex digest of a list of texts (of their JSON encoding, so the join is unambiguous)."""
    return hashlib.sha256(json.dumps(texts, ensure_ascii=False).encode("utf-8")).hexdigest()
