"""bayesmix._files: atomic writes, refusing to overwrite, safe names, stale temporaries."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bayesmix._files import (
    EXISTS_MESSAGE,
    atomic_write,
    atomic_write_folder,
    check_outputs,
    remove_stale_temporaries,
    safe_name,
)
from bayesmix.exceptions import SpecError


def _write(text):
    def write(tmp):
        with open(tmp, "w") as fh:
            fh.write(text)

    return write


def test_atomic_write_refuses_existing_unless_overwrite(tmp_path):
    p = tmp_path / "sub" / "a.txt"
    atomic_write(p, _write("one"))
    assert p.read_text() == "one"
    with pytest.raises(FileExistsError, match="already exists.*--overwrite"):
        atomic_write(p, _write("two"))
    assert p.read_text() == "one"
    atomic_write(p, _write("two"), overwrite=True)
    assert p.read_text() == "two"
    assert sorted(os.listdir(p.parent)) == ["a.txt"]  # no temporary left


def test_a_failed_write_leaves_nothing(tmp_path):
    p = tmp_path / "a.txt"

    def boom(tmp):
        with open(tmp, "w") as fh:
            fh.write("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(p, boom)
    assert os.listdir(tmp_path) == []


def test_a_file_appearing_during_the_write_is_not_replaced(tmp_path):
    p = tmp_path / "a.txt"

    def racer(tmp):
        p.write_text("theirs")
        with open(tmp, "w") as fh:
            fh.write("ours")

    with pytest.raises(FileExistsError):
        atomic_write(p, racer)
    assert p.read_text() == "theirs"


def test_folder_write(tmp_path):
    p = tmp_path / "out.parquet"

    def fill(tmp):
        for i in range(3):
            with open(os.path.join(tmp, f"part.{i}"), "w") as fh:
                fh.write(str(i))

    atomic_write_folder(p, fill)
    assert sorted(os.listdir(p)) == ["part.0", "part.1", "part.2"]
    with pytest.raises(FileExistsError):
        atomic_write_folder(p, fill)
    atomic_write_folder(p, fill, overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["out.parquet"]


def test_check_outputs_before_any_work(tmp_path):
    (tmp_path / "exists.csv").write_text("x")
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "afile").write_text("x")
    check_outputs([tmp_path / "new.csv"], overwrite=False)
    with pytest.raises(FileExistsError) as info:
        check_outputs([tmp_path / "new.csv", tmp_path / "exists.csv"], overwrite=False)
    assert str(info.value).endswith(EXISTS_MESSAGE.format(path=tmp_path / "exists.csv"))
    check_outputs([tmp_path / "exists.csv"], overwrite=True)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        check_outputs([tmp_path / "folder.csv"], overwrite=True)
    with pytest.raises(NotADirectoryError, match="is a file"):
        check_outputs([tmp_path / "afile" / "out.csv"], overwrite=False)
    with pytest.raises(NotADirectoryError, match="is a file"):
        check_outputs([tmp_path / "exists.csv"], overwrite=True, folders=[tmp_path / "exists.csv"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_read_only_folder_is_refused_early(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="not writable"):
            check_outputs([ro / "out" / "a.csv"], overwrite=False)
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize(
    "bad", ["", " ", "..", ".", "../x", "a/b", "a\\b", ".hidden", "-rf", "a\x00b", "x" * 201]
)
def test_safe_name_refuses_paths(bad):
    with pytest.raises(SpecError, match="name"):
        safe_name(bad, key="name")


@pytest.mark.parametrize("good", ["blanco1_pm2d", "NGC 6819", "Melotte_22", "a.b-c"])
def test_safe_name_accepts_plain_names(good):
    assert safe_name(good, key="name") == good


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    # a process that no longer runs left a temporary behind (as after kill -9)
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = int(proc.stdout)
    stale = tmp_path / f".membership.csv.{dead}.abc123.bayesmix-tmp"
    stale.write_text("partial")
    live = tmp_path / f".other.csv.{os.getpid()}.xyz.bayesmix-tmp"
    live.write_text("in progress")
    user = tmp_path / ".membership.csv.notours.tmp"
    user.write_text("a user's file")
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and user.exists()
    # the next write into the folder cleans up too
    stale.write_text("partial")
    atomic_write(tmp_path / "membership.csv", _write("done"))
    assert not stale.exists()
