"""Output files, written once: atomic writes, refuse-to-overwrite, safe names, stale temporaries.

Every writer in bayesmix (tables, JSON, text, figures, saved models, posteriors,
Parquet folders) goes through :func:`atomic_write` or :func:`atomic_write_folder`,
and every command checks all of its outputs with :func:`check_outputs` before
any fitting.  The rules, in one place:

- an output is written to a temporary file (or folder) in the destination
  folder and moved into place only when complete, so a reader never sees a
  partial file and a crash never leaves one under the real name;
- an existing output is never replaced unless ``overwrite`` is true; without
  it a file that appears between the check and the move is not replaced either
  (``os.link`` refuses an existing target);
- temporary names are ``.<name>.<pid>.<random>.bayesmix-tmp``: a temporary left
  behind by a killed process is removed by the next write into that folder
  once its process is gone (:func:`remove_stale_temporaries`);
- names built from user input (a spec's ``name``, a cluster's name) are single
  path components (:func:`safe_name`), so no output lands outside the folder
  the user chose.

The one error message for an existing output is :data:`EXISTS_MESSAGE`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from bayesmix.exceptions import DataError, SpecError

__all__ = [
    "EXISTS_MESSAGE",
    "atomic_write",
    "atomic_write_folder",
    "check_outputs",
    "remove_stale_temporaries",
    "safe_name",
]

#: the message of every "output already exists" error (``{path}`` is the output)
EXISTS_MESSAGE = (
    "output '{path}' already exists; use --overwrite (overwrite=True) to replace it, or "
    "choose another output folder"
)
_TMP_SUFFIX = ".bayesmix-tmp"
_TMP_RE = re.compile(r"^\..+\.(\d+)\.[A-Za-z0-9_]+" + re.escape(_TMP_SUFFIX) + r"$")
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f/\\:*?\"<>|]")
#: longest file name a command builds from user input (file systems allow 255 bytes; room is
#: left for suffixes and the temporaries' prefix)
_MAX_NAME_BYTES = 200
_MAX_COMPONENT_BYTES = 255


def _os_error(cls: type[OSError], message: str, path: Path) -> OSError:
    """``cls(message)``: its ``str()`` is the one-line message, which names ``path``."""
    return cls(message)


def _exists_error(path: Path) -> OSError:
    return _os_error(FileExistsError, EXISTS_MESSAGE.format(path=path), path)


def safe_name(name: str, *, key: str) -> str:
    """Return ``name`` if it is a safe single file or folder name; else raise naming ``key``.

    A safe name is non-empty, at most 200 bytes (UTF-8), is not ``.`` or ``..``,
    does not start with ``.`` or ``-``, and has no path separator, control
    character or any of ``: * ? " < > |``.

    Raises
    ------
    SpecError
        Naming ``key`` (e.g. ``"name"`` or ``"--clusters: row 3, name"``).
    """
    if not isinstance(name, str) or not name.strip():
        raise SpecError(f"{key} must be a non-empty name, got {name!r}", key=key)
    bad = _UNSAFE_CHARS.search(name)
    too_long = len(name.encode("utf-8", "surrogateescape")) > _MAX_NAME_BYTES
    if (
        bad is not None
        or name in (".", "..")
        or name.startswith((".", "-"))
        or name != name.strip()
        or too_long
    ):
        why = (
            f"contains {bad.group()!r}"
            if bad is not None
            else (
                f"is too long (over {_MAX_NAME_BYTES} bytes)" if too_long else "is not a plain name"
            )
        )
        raise SpecError(
            f"{key} must be a plain file name (letters, digits, '_', '-', '.', spaces; no "
            f"folders, not starting with '.' or '-'); {name!r} {why}",
            key=key,
        )
    return name


def _writable_folder(folder: Path) -> None:
    """Raise naming the path if files cannot be created in ``folder`` (or where it would be)."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise _os_error(
            NotADirectoryError,
            f"output folder '{folder}' cannot be created: '{probe}' is a file",
            probe,
        )
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise _os_error(PermissionError, f"output folder '{probe}' is not writable", probe)


def check_outputs(
    paths: Iterable[str | os.PathLike], *, overwrite: bool, folders: Iterable[str] = ()
) -> None:
    """Check, before any work, that every output in ``paths`` can be written.

    Parameters
    ----------
    paths : iterable of path-like
        The files (and folders, named in ``folders``) a command will write.
    overwrite : bool
        Existing outputs may be replaced.
    folders : iterable of str, optional
        Those of ``paths`` that are written as folders (Parquet datasets).

    Raises
    ------
    DataError
        A path is empty, has a control character or a name over 255 bytes.
    FileExistsError
        An output exists and ``overwrite`` is false (:data:`EXISTS_MESSAGE`).
    IsADirectoryError, NotADirectoryError
        An output file's name is taken by a folder, or a folder's by a file.
    PermissionError
        The output folder cannot be written.
    """
    dirs = {os.fspath(f) for f in folders}
    for raw in paths:
        _check_path_text(raw)
        p = Path(raw)
        is_folder = os.fspath(raw) in dirs
        if p.exists():
            if p.is_dir() and not is_folder:
                raise _os_error(
                    IsADirectoryError, f"output '{p}' is a folder; a file is written there", p
                )
            if is_folder and not p.is_dir():
                raise _os_error(
                    NotADirectoryError, f"output '{p}' is a file; a folder is written there", p
                )
            if not overwrite:
                raise _exists_error(p)
        _writable_folder(p.parent if str(p.parent) else Path("."))


def _check_path_text(raw: str | os.PathLike) -> None:
    """Raise (naming the path) on an empty path, control characters, or an over-long name."""
    text = str(os.fspath(raw))
    problem = None
    if not text.strip():
        problem = "an output path is empty; give a file or folder name"
    elif any(ch in text for ch in "\x00\n\r"):
        problem = f"output path {text!r} has a control character"
    elif any(
        len(part.encode("utf-8", "surrogateescape")) > _MAX_COMPONENT_BYTES
        for part in Path(text).parts
    ):
        problem = f"output path '{text}' has a name longer than {_MAX_COMPONENT_BYTES} bytes"
    if problem is not None:
        raise DataError(problem, argument="output")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except OSError:
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove bayesmix temporaries in ``folder`` whose writing process no longer runs.

    Returns the removed paths.  Temporaries of live processes are kept.
    """
    removed: list[Path] = []
    f = Path(folder)
    if not f.is_dir():
        return removed
    for entry in f.iterdir():
        m = _TMP_RE.match(entry.name)
        if m is None or _pid_alive(int(m.group(1))):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except OSError:  # pragma: no cover - raced with another cleaner
            pass
    return removed


def _prepare(path: str | os.PathLike, *, overwrite: bool) -> tuple[Path, Path]:
    p = Path(path)
    if p.exists() and not overwrite:
        raise _exists_error(p)
    folder = p.parent if str(p.parent) else Path(".")
    _writable_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder)
    return p, folder


def _tmp_prefix(p: Path) -> str:
    return f".{p.name}.{os.getpid()}."


def atomic_write(
    path: str | os.PathLike, write: Callable[[str], None], *, overwrite: bool = False
) -> Path:
    """Write a file atomically: ``write(tmp)`` fills a temporary file, then it is moved to ``path``.

    Parameters
    ----------
    path : path-like
        Destination file.
    write : callable
        Called with the temporary file's path (the file exists, empty).
    overwrite : bool, default False
        Replace an existing file; otherwise an existing file is an error, also
        when it appears while ``write`` runs.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is false.
    IsADirectoryError
        ``path`` is a folder.
    """
    p, folder = _prepare(path, overwrite=overwrite)
    if p.is_dir():
        raise _os_error(IsADirectoryError, f"output '{p}' is a folder", p)
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(p), suffix=_TMP_SUFFIX, dir=folder)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        if overwrite:
            os.replace(tmp, p)
        else:
            try:
                os.link(tmp, p)  # refuses a target that appeared meanwhile
            except FileExistsError:
                raise _exists_error(p) from None
            except OSError:  # file systems without hard links
                if p.exists():
                    raise _exists_error(p) from None
                os.replace(tmp, p)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return p


def atomic_write_folder(
    path: str | os.PathLike, write: Callable[[str], None], *, overwrite: bool = False
) -> Path:
    """Write a folder (e.g. a Parquet dataset) atomically, as :func:`atomic_write` does a file.

    ``write(tmp)`` fills an empty temporary folder next to ``path``; it is then
    renamed to ``path`` (an existing ``path`` is removed first when
    ``overwrite``).
    """
    p, folder = _prepare(path, overwrite=overwrite)
    tmp = tempfile.mkdtemp(prefix=_tmp_prefix(p), suffix=_TMP_SUFFIX, dir=folder)
    try:
        write(tmp)
        if p.exists() or p.is_symlink():
            if not overwrite:
                raise _exists_error(p)
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
        os.replace(tmp, p)
    finally:
        if os.path.lexists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return p
