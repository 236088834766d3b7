"""Planted symbolic links are never followed by a writer (issue 27 items 1-2): lock files and written-markers."""

from __future__ import annotations

import os

import numpy as np
import pytest

from amips.cli import main
from amips.data.io import InputError, written_by_amips
from amips.data.locks import exclusive_lock


@pytest.fixture()
def victim(tmp_path):
    path = tmp_path / "precious.txt"
    path.write_text("the user's own file\n")
    return path


def test_a_symlinked_lock_is_refused_and_its_target_untouched(tmp_path, victim):
    out = tmp_path / "out" / "m.pt"
    out.parent.mkdir()
    os.symlink(victim, out.parent / ".m.pt.lock")
    with pytest.raises(InputError, match="is a symbolic link"):
        with exclusive_lock(out, "test writer"):
            pass
    assert victim.read_text() == "the user's own file\n"


def test_a_fifo_as_lock_is_refused_without_hanging(tmp_path):
    out = tmp_path / "m.pt"
    os.mkfifo(tmp_path / ".m.pt.lock")
    with pytest.raises(InputError, match="not a regular file"):
        with exclusive_lock(out, "test writer"):
            pass


@pytest.fixture()
def data(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "data"
    folder.mkdir()
    np.save(folder / "keys.npy", rng.standard_normal((200, 8)).astype(np.float32))
    np.save(folder / "queries.npy", rng.standard_normal((60, 8)).astype(np.float32))
    return folder


@pytest.mark.parametrize("command, lock", [
    (["fit", "--keys", "{d}/keys.npy", "--queries", "{d}/queries.npy", "--out", "{o}/m.pt", "--steps", "5"], "{o}/.m.pt.lock"),
    (["search", "--keys", "{d}/keys.npy", "--queries", "{d}/queries.npy", "--out", "{o}/r.npz", "--ivf", "--index",
      "{o}/x.ivf"], "{o}/.x.ivf.lock"),
    (["labels", "--data", "{g}", "--out", "{o}/lab"], "{o}/.lab.lock"),
])
def test_commands_refuse_a_symlinked_lock(tmp_path, data, victim, capsys, command, lock):
    out = tmp_path / "out"
    out.mkdir()
    generated = tmp_path / "generated"
    assert main(["generate", "--num-keys", "100", "--num-queries", "40", "--dim", "8", "--out", str(generated)]) == 0
    fill = {"d": str(data), "o": str(out), "g": str(generated)}
    os.symlink(victim, lock.format(**fill))
    capsys.readouterr()
    code = main([part.format(**fill) for part in command])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("amips: error:")]
    assert code == 2 and len(errors) == 1 and "symbolic link" in errors[0], errors
    assert victim.read_text() == "the user's own file\n"


def test_a_symlinked_marker_folder_is_neither_trusted_nor_written_through(tmp_path, data, capsys):
    """out/.amips-written → another folder: searching into out/ must not replace that folder's r.npz."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "r.npz").write_bytes(b"another folder's file")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(other, out / ".amips-written")
    code = main(["search", "--keys", str(data / "keys.npy"), "--queries", str(data / "queries.npy"), "--k", "3",
                 "--out", str(out / "r.npz")])
    assert code == 0, capsys.readouterr().err
    assert (other / "r.npz").read_bytes() == b"another folder's file"
    assert not written_by_amips(out / "r.npz")  # untrusted marker folder: rewriting it needs --overwrite


def test_readers_refuse_fifos_and_deep_state_files_in_one_line(tmp_path, data, capsys):
    """A FIFO as --keys or as a manifest, and a manifest nested 100 000 deep: one line each, no hang, no traceback;
    a corrupt digest cache is rebuilt, not fatal (issue 27 item 9)."""
    from amips.data.input_digest import DigestCache

    os.mkfifo(tmp_path / "keys.npy")
    code = main(["search", "--keys", str(tmp_path / "keys.npy"), "--queries", str(data / "queries.npy"),
                 "--out", str(tmp_path / "r.npz")])
    err = capsys.readouterr().err
    assert code == 2 and "is a FIFO" in err, err
    generated = tmp_path / "generated"
    assert main(["generate", "--num-keys", "100", "--num-queries", "40", "--dim", "8", "--out", str(generated)]) == 0
    manifest = generated / "manifest.json"
    for plant in ("fifo", "deep"):
        manifest.unlink()
        if plant == "fifo":
            os.mkfifo(manifest)
        else:
            manifest.write_text("[" * 100_000 + "]" * 100_000)
        capsys.readouterr()
        code = main(["labels", "--data", str(generated), "--out", str(tmp_path / f"lab_{plant}")])
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("amips: error:")]
        assert code == 2 and len(errors) == 1 and "manifest" in errors[0], (plant, errors)
    cache = tmp_path / "digests.json"
    cache.write_text("{" * 100_000)
    assert DigestCache(cache).sha256(data / "keys.npy")  # rebuilt from the file itself


def test_values_whose_inner_products_overflow_float32_are_refused_by_row(tmp_path, data, capsys):
    """A key row × 1e30 used to give 12 inf/nan metrics with exit 0 (issue 27 item 7)."""
    keys = np.load(data / "keys.npy")
    keys[17] *= 1e30
    np.save(tmp_path / "big.npy", keys)
    code = main(["search", "--keys", str(tmp_path / "big.npy"), "--queries", str(data / "queries.npy"),
                 "--out", str(tmp_path / "r.npz")])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("amips: error:")]
    assert code == 2 and len(errors) == 1 and "row 17" in errors[0] and "overflow" in errors[0], errors
    assert not (tmp_path / "r.npz").exists()
