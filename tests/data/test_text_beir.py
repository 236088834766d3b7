"""Tests for amips.data.text.beir on a tiny BEIR-format directory."""

import shutil
from pathlib import Path

import pytest

from amips.data.io import InputError
from amips.data.text.beir import load_beir

FIXTURE = Path(__file__).parents[1] / "fixtures" / "text" / "beir"


def test_load_joins_title_and_text():
    corpus = load_beir(FIXTURE)
    assert corpus.name == "beir-beir" and corpus.gold is None
    assert len(corpus.keys) == 5 and len(corpus.queries) == 4
    assert corpus.keys[0] == "Index funds An index fund tracks a market index such as the S&P 500 at low cost."
    assert corpus.keys[1].startswith("Dividends are paid")  # empty title: no leading space
    assert corpus.keys[3] == "Compound interest grows savings exponentially over time."  # no title field; blank line skipped


def test_missing_directory(tmp_path):
    with pytest.raises(InputError, match="directory not found"):
        load_beir(tmp_path / "nope")


def test_missing_queries_file(tmp_path):
    shutil.copy(FIXTURE / "corpus.jsonl", tmp_path)
    with pytest.raises(InputError, match=r"not found: .*queries\.jsonl"):
        load_beir(tmp_path)


def test_corrupt_line_names_file_and_line(tmp_path):
    shutil.copy(FIXTURE / "queries.jsonl", tmp_path)
    (tmp_path / "corpus.jsonl").write_text('{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": \n')
    with pytest.raises(InputError, match=r"corpus\.jsonl:2: invalid JSON"):
        load_beir(tmp_path)


def test_missing_text_field(tmp_path):
    shutil.copy(FIXTURE / "corpus.jsonl", tmp_path)
    (tmp_path / "queries.jsonl").write_text('{"_id": "q1", "text": "fine"}\n{"_id": "q2"}\n')
    with pytest.raises(InputError, match=r"queries\.jsonl:2: field 'text'"):
        load_beir(tmp_path)
