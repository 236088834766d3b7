"""The pipeline sees content, not only mtimes: a user input replaced by another file with an older or preserved
modification time (``cp -p``, ``mv``, a restore) reruns what depends on it (amips.data.input_digest)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import amips.data.input_digest
from amips.data.input_digest import MISSING, DigestCache, dataset_digests, dataset_files

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TINY = REPO / "tests" / "config" / "config.yaml"
BEIR = REPO / "tests" / "fixtures" / "text" / "beir"


def _cp_p(source: Path, target: Path, mtime_ns: int = 10**18) -> None:
    """``cp -p source target`` from a source last modified at ``mtime_ns`` (default 2001: older than anything
    built): the target keeps its inode and gets that mtime."""
    os.utime(source, ns=(mtime_ns, mtime_ns))
    shutil.copy2(source, target)


def test_a_file_replaced_with_a_preserved_mtime_gets_a_new_digest(tmp_path):
    data, other = tmp_path / "keys.npy", tmp_path / "other.npy"
    np.save(data, np.zeros((4, 3), np.float32))
    np.save(other, np.ones((4, 3), np.float32))  # same size, other bytes
    cache = DigestCache(tmp_path / "cache.json")
    before = cache.sha256(data)
    _cp_p(other, data, data.stat().st_mtime_ns)  # same size, mtime and inode: only the ctime tells
    assert cache.sha256(data) != before
    assert DigestCache(tmp_path / "cache.json").sha256(data) == cache.sha256(other)


def test_an_unchanged_file_is_not_read_again(tmp_path, monkeypatch):
    data = tmp_path / "corpus.jsonl"
    data.write_text('{"text": "a"}\n')
    first = DigestCache(tmp_path / "cache.json").sha256(data)
    monkeypatch.setattr(amips.data.input_digest, "file_sha256", lambda path: pytest.fail(f"{path} was read again"))
    assert DigestCache(tmp_path / "cache.json").sha256(data) == first  # from the JSON cache
    assert DigestCache(tmp_path / "cache.json").sha256(tmp_path / "absent") == MISSING


def test_the_files_of_each_source_are_the_ones_it_reads(tmp_path):
    assert dataset_files({"source": "structured", "num_keys": 9}) == {}
    assert dataset_files({"source": "npy", "keys": "k.npy", "queries": "q.npy"}) == {
        "keys": Path("k.npy"), "queries": Path("q.npy")}
    assert dataset_files({"source": "beir", "root": str(BEIR)}) == {
        "corpus.jsonl": BEIR / "corpus.jsonl", "queries.jsonl": BEIR / "queries.jsonl"}
    assert sorted(dataset_files({"source": "wordnet", "root": "wn"})) == ["data.adj", "data.adv", "data.noun",
                                                                          "data.verb"]
    assert dataset_files({"source": "wikipedia", "root": str(tmp_path)}) == {
        "summaries": tmp_path / "summaries_en-us.json"}
    corpus = tmp_path / "beir"
    shutil.copytree(BEIR, corpus)
    cache = DigestCache(tmp_path / "cache.json")
    before = dataset_digests({"source": "beir", "root": str(corpus)}, cache)
    replacement = tmp_path / "queries.jsonl"
    replacement.write_text('{"_id": "q", "text": "another query"}\n')
    _cp_p(replacement, corpus / "queries.jsonl")
    after = dataset_digests({"source": "beir", "root": str(corpus)}, cache)
    assert after["corpus.jsonl"] == before["corpus.jsonl"] and after["queries.jsonl"] != before["queries.jsonl"]


def _snakemake(*args: str) -> str:
    out = subprocess.run([SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), *args], cwd=REPO, text=True,
                         capture_output=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout + out.stderr


@pytest.mark.workflow
def test_replacing_npy_embeddings_by_an_older_file_reruns_the_dataset(tmp_path):
    rng = np.random.default_rng(0)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    np.save(inputs / "keys.npy", rng.standard_normal((60, 4)).astype(np.float32))
    np.save(inputs / "queries.npy", rng.standard_normal((40, 4)).astype(np.float32))
    np.save(tmp_path / "other.npy", rng.standard_normal((60, 4)).astype(np.float32))
    shutil.copy2(inputs / "keys.npy", tmp_path / "same.npy")
    config = yaml.safe_load(TINY.read_text())
    config.update(datasets={"user": {"source": "npy", "keys": "inputs/keys.npy", "queries": "inputs/queries.npy"}},
                  extra_sweeps=[], experiments={})
    config["sweep"]["datasets"] = ["user"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    args = ("--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml"), "--cores", "1",
            "results/user/data/meta.json")
    _snakemake(*args)
    _cp_p(tmp_path / "same.npy", inputs / "keys.npy")  # same bytes: nothing to redo
    assert "Nothing to be done" in _snakemake(*args, "-n")
    _cp_p(tmp_path / "other.npy", inputs / "keys.npy")  # other bytes, an older mtime
    assert "rule make_dataset:" in _snakemake(*args, "-n")
