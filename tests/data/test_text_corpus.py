"""Tests for amips.data.text.corpus: the TextCorpus type, deduplication and text hashing."""

import pytest

from amips.data.text.corpus import TextCorpus, dedup, texts_sha256


def test_dedup_keeps_first_occurrence_and_remaps_gold():
    corpus = TextCorpus(
        keys=["a", " b ", "a", "", "c"],
        queries=["q1", "q2", "q1", "  ", "q3", "q4"],
        name="toy",
        gold=[2, 1, 4, 0, 4, 3],
    )
    out = dedup(corpus)
    assert out.keys == ["a", "b", "c"]
    assert out.queries == ["q1", "q2", "q3", "q4"]
    # q1 keeps the gold of its first occurrence (old key 2 == "a" -> 0); q4's gold key was empty
    assert out.gold == [0, 1, 2, -1]
    assert out.name == "toy"


def test_dedup_without_gold():
    out = dedup(TextCorpus(keys=["x", "x"], queries=["y", "y", "z"], name="n"))
    assert out.keys == ["x"] and out.queries == ["y", "z"] and out.gold is None


def test_gold_length_is_checked():
    with pytest.raises(ValueError, match="gold"):
        TextCorpus(keys=["a"], queries=["q", "r"], name="n", gold=[0])


def test_texts_sha256_is_unambiguous():
    assert texts_sha256(["ab", "c"]) != texts_sha256(["a", "bc"])
    assert texts_sha256(["a\nb"]) != texts_sha256(["a", "b"])
    assert texts_sha256(["a"]) == texts_sha256(["a"])
