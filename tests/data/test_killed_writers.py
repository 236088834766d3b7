"""A writer killed half-way never leaves a file that passes for a result: its temporaries are removed by the next
write, and an output killed around its rename is still recognised as amips' (from the cross-cutting test_trust.py,
test_one_line_errors.py and test_no_clobber.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from amips.data.io import MARKER_DIR, atomic_save_npy, remove_stale_temporaries, written_by_amips


def test_temporary_files_of_killed_writers_are_removed_by_the_next_write(tmp_path):
    target = tmp_path / "keys.npy"
    code = ("import os, sys; from amips.data.io import atomic_path\n"
            f"with atomic_path({str(target)!r}, suffix='.tmp.npy') as tmp:\n"
            "    tmp.write_bytes(b'half')\n    os._exit(9)\n")
    subprocess.run([os.sys.executable, "-c", code], check=False)
    debris = [p for p in tmp_path.iterdir() if p.name.startswith(".keys.npy.")]
    assert len(debris) == 1 and not target.exists()
    live = tmp_path / f".keys.npy.{socket.gethostname().replace('.', '_')}-{os.getpid()}.x1.tmp.npy"
    live.write_bytes(b"in progress")  # a writer that is still running
    atomic_save_npy(target, np.zeros(3))
    remaining = sorted(p.name for p in tmp_path.iterdir() if p.name != MARKER_DIR)
    assert remaining == sorted(["keys.npy", live.name])  # the dead writer's file is gone, a live one is kept
    assert remove_stale_temporaries(target) == []


def test_temporaries_of_long_names_left_by_killed_writers_are_removed(tmp_path):
    target = tmp_path / ("k" * 246 + ".npy")
    code = ("import os; from amips.data.io import atomic_path\n"
            f"with atomic_path({str(target)!r}, suffix='.tmp.npy') as tmp:\n"
            "    tmp.write_bytes(b'half')\n    os._exit(9)\n")
    subprocess.run([os.sys.executable, "-c", code], check=False)
    debris = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp.npy")]
    assert len(debris) == 1 and not target.exists()
    atomic_save_npy(target, np.zeros(3))
    assert not debris[0].exists() and target.exists()


KILLED_WRITER = """
import os, sys
import numpy as np
from amips.data.io import atomic_save_npy

target, killed = sys.argv[1], sys.argv[2]
atomic_save_npy(target, np.zeros(3))
real_replace = os.replace


def replace(src, dst):  # SIGKILL-like exit just before or just after the output's rename
    if str(dst) == target and killed == "before-rename":
        os._exit(9)
    real_replace(src, dst)
    if str(dst) == target:
        os._exit(9)


os.replace = replace
atomic_save_npy(target, np.ones(5))
"""


@pytest.mark.parametrize("killed", ["before-rename", "after-rename"])
def test_a_writer_killed_around_the_rename_leaves_its_file_recognised(tmp_path, killed):
    target = tmp_path / "keys.npy"
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target), killed], check=False)
    assert done.returncode == 9
    assert np.load(target).shape == ((3,) if killed == "before-rename" else (5,))
    assert written_by_amips(target)  # old or new, the file is amips': a rerun replaces it without --overwrite
