"""Tests for amips.data.text.wordnet on a small fixture in the real data-file format."""

import shutil
from pathlib import Path

import pytest

from amips.data.io import InputError
from amips.data.text.wordnet import DEFAULT_ROOT, load_wordnet, parse_line, read_synsets, select_synsets

FIXTURE = Path(__file__).parents[1] / "fixtures" / "text" / "wordnet"
WITH_EXAMPLES = 8  # synsets in the fixture that have example sentences (of 12)
EXAMPLES = 14


def test_parse_noun_line_with_examples():
    line = (FIXTURE / "data.noun").read_text().splitlines()[4]
    synset = parse_line(line)
    assert synset.lemmas == ("whole", "unit")
    assert synset.definition == "an assemblage of parts that is regarded as a single entity"
    assert synset.examples == ("how big is that part compared to the whole?", "the team is a unit")
    assert synset.key_text() == "whole, unit: an assemblage of parts that is regarded as a single entity"


def test_parse_strips_adjective_markers_and_underscores():
    lines = (FIXTURE / "data.adj").read_text().splitlines()
    assert parse_line(lines[5]).lemmas == ("handy", "ready to hand")
    outback = parse_line(lines[6])
    assert outback.lemmas == ("outback", "remote")
    assert outback.definition == "inaccessible and sparsely populated" and outback.examples == ()


def test_parse_verb_line_with_frames():
    synset = parse_line((FIXTURE / "data.verb").read_text().splitlines()[3])
    assert synset.lemmas == ("breathe", "take a breath", "respire", "suspire")
    assert synset.definition == "draw air into, and expel out of, the lungs"
    assert len(synset.examples) == 2


def test_load_all_puts_synsets_with_examples_first():
    corpus = load_wordnet(FIXTURE)
    assert corpus.name == "wordnet"
    assert len(corpus.keys) == 12 and len(corpus.queries) == EXAMPLES
    assert corpus.gold is not None and max(corpus.gold) == WITH_EXAMPLES - 1
    assert corpus.keys[corpus.gold[0]].startswith("object, physical object: a tangible")
    assert corpus.queries[0] == "it was full of rackets, balls and other objects"
    assert "dwarf: a plant or animal that is atypically small" in corpus.keys[WITH_EXAMPLES:]


def test_num_keys_adds_random_others_deterministically():
    a = load_wordnet(FIXTURE, num_keys=10, seed=1)
    assert len(a.keys) == 10 and len(a.queries) == EXAMPLES
    assert a.keys == load_wordnet(FIXTURE, num_keys=10, seed=1).keys
    assert a.keys[:WITH_EXAMPLES] == load_wordnet(FIXTURE).keys[:WITH_EXAMPLES]


def test_num_keys_below_example_synsets_subsamples_them():
    corpus = load_wordnet(FIXTURE, num_keys=3, seed=0)
    assert len(corpus.keys) == 3
    assert all(corpus.keys[g] for g in corpus.gold) and set(corpus.gold) == {0, 1, 2}


@pytest.mark.parametrize("num_keys", [0, 13])
def test_num_keys_out_of_range(num_keys):
    with pytest.raises(InputError, match="between 1 and 12"):
        select_synsets(read_synsets(FIXTURE), num_keys, seed=0)


def test_missing_directory_names_the_install_command(tmp_path):
    with pytest.raises(InputError, match="apt-get install wordnet-base"):
        load_wordnet(tmp_path / "nope")


def test_missing_file_names_it(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "wn")
    (tmp_path / "wn" / "data.adv").unlink()
    with pytest.raises(InputError, match=r"data\.adv.*apt-get install wordnet-base"):
        load_wordnet(tmp_path / "wn")


def test_malformed_line_names_file_and_line(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "wn")
    with (tmp_path / "wn" / "data.verb").open("a") as fh:
        fh.write("garbage without a gloss\n")
    with pytest.raises(InputError, match=r"data\.verb:6: malformed"):
        load_wordnet(tmp_path / "wn")


@pytest.mark.skipif(not (DEFAULT_ROOT / "data.noun").is_file(), reason="WordNet not installed (apt-get install wordnet-base)")
def test_real_wordnet_counts():
    corpus = load_wordnet()
    assert len(corpus.keys) == 117_659
    assert len(corpus.queries) == 48_339
    assert len(set(corpus.gold)) == 32_923
