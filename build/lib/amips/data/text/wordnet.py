"""WordNet 3.0 as a retrieval corpus: synset glosses are keys, their usage examples are queries.

Reads the plain-text database shipped by Debian's ``wordnet-base`` package
(``/usr/share/wordnet/data.{noun,verb,adj,adv}``). Each data line is
``offset lex_filenum ss_type w_cnt (word lex_id)* p_cnt (pointer)* [frames] | gloss`` where the
gloss is a definition followed by ``; "example"`` parts.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from amips.data.io import InputError
from amips.data.text.corpus import TextCorpus

DEFAULT_ROOT = Path("/usr/share/wordnet")
POS_FILES = ("noun", "verb", "adj", "adv")
INSTALL_HINT = (
    "install it with `apt-get install wordnet-base` or set the WordNet `root` in the config "
    "to a directory holding data.noun, data.verb, data.adj and data.adv"
)
_ADJ_MARKER = re.compile(r"\((?:a|p|ip)\)$")
_QUOTED = re.compile(r'"([^"]*)"')


@dataclass(frozen=True)
class Synset:
    """One WordNet synset: its lemmas (spaces, not underscores), definition and example sentences."""

    lemmas: tuple[str, ...]
    definition: str
    examples: tuple[str, ...]

    def key_text(self) -> str:
        """The key text ``"lemma1, lemma2: definition"``."""
        return f"{', '.join(self.lemmas)}: {self.definition}"


def parse_line(line: str) -> Synset:
    """Parse one data-file line (not a licence header line).

    The definition is the gloss up to its first double quote; every quoted span is an example.
    (A few dozen glosses quote a phrase inside the definition; those are cut at the quote.)

    Raises:
        ValueError: the line does not have the data-file layout.
    """
    head, sep, gloss = line.partition(" | ")
    fields = head.split()
    if not sep or len(fields) < 6:
        raise ValueError("expected 'offset lex_filenum ss_type w_cnt word lex_id ... | gloss'")
    w_cnt = int(fields[3], 16)
    words = fields[4 : 4 + 2 * w_cnt : 2]
    if w_cnt < 1 or len(words) != w_cnt:
        raise ValueError(f"word count {fields[3]} does not match the line")
    lemmas = tuple(dict.fromkeys(_ADJ_MARKER.sub("", w).replace("_", " ") for w in words))
    gloss = gloss.strip()
    definition = gloss.split('"', 1)[0].strip().rstrip(" ;:,(").strip()
    examples = tuple(e.strip() for e in _QUOTED.findall(gloss) if e.strip())
    return Synset(lemmas=lemmas, definition=definition, examples=examples)


def read_data_file(path: Path) -> list[Synset]:
    """All synsets of one ``data.<pos>`` file, in file order.

    Raises:
        InputError: the file is missing or a line is malformed (naming file and line number).
    """
    if not path.is_file():
        raise InputError(f"WordNet data file not found: {path}; {INSTALL_HINT}")
    synsets = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.startswith("  ") or not line.strip():
                continue  # licence header
            try:
                synsets.append(parse_line(line))
            except ValueError as exc:
                raise InputError(f"{path}:{lineno}: malformed WordNet data line ({exc})") from exc
    return synsets


def read_synsets(root: str | os.PathLike = DEFAULT_ROOT) -> list[Synset]:
    """Synsets of all four parts of speech (noun, verb, adj, adv files in that order)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"WordNet directory not found: {root}; {INSTALL_HINT}")
    return [s for pos in POS_FILES for s in read_data_file(root / f"data.{pos}")]


def select_synsets(synsets: list[Synset], num_keys: int | None, seed: int) -> list[Synset]:
    """Choose ``num_keys`` synsets: every one with examples first, then random others.

    If ``num_keys`` is below the number of synsets with examples, a random subset of those is
    taken. Each group keeps file order. ``None`` selects all synsets.
    """
    with_examples = [i for i, s in enumerate(synsets) if s.examples]
    others = [i for i, s in enumerate(synsets) if not s.examples]
    if num_keys is None:
        return [synsets[i] for i in with_examples + others]
    if not 1 <= num_keys <= len(synsets):
        raise InputError(f"WordNet num_keys must be between 1 and {len(synsets)} (the synset count), got {num_keys}")
    rng = np.random.default_rng(seed)
    if num_keys <= len(with_examples):
        chosen = sorted(rng.choice(with_examples, size=num_keys, replace=False).tolist())
    else:
        chosen = with_examples + sorted(rng.choice(others, size=num_keys - len(with_examples), replace=False).tolist())
    return [synsets[i] for i in chosen]


def load_wordnet(root: str | os.PathLike = DEFAULT_ROOT, num_keys: int | None = None, seed: int = 0) -> TextCorpus:
    """WordNet as a :class:`TextCorpus`: one key per selected synset, one query per example sentence.

    Args:
        root: directory with ``data.noun``, ``data.verb``, ``data.adj``, ``data.adv``.
        num_keys: how many synsets become keys (see :func:`select_synsets`; 32,923 synsets have
            examples and 117,659 exist in WordNet 3.0); ``None`` for all.
        seed: seed for the random choice of synsets.

    Returns:
        A corpus whose ``gold[j]`` is the key index of the synset that query ``j`` illustrates.
    """
    chosen = select_synsets(read_synsets(root), num_keys, seed)
    keys = [s.key_text() for s in chosen]
    queries, gold = [], []
    for index, synset in enumerate(chosen):
        queries.extend(synset.examples)
        gold.extend([index] * len(synset.examples))
    return TextCorpus(keys=keys, queries=queries, name="wordnet", gold=gold)
