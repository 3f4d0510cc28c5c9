"""All or nothing: a command's ``--out`` folder gets every file, or none of them.

``staged(out)`` yields a temporary folder beside ``out`` (same filesystem, hidden name
``.NAME.partial-XXXX``); the command writes everything there. When the block ends without an
error the files are moved into ``out`` by rename: a new ``out`` is the renamed folder itself,
an existing one receives each file by an atomic replace (files already there that the command
does not write are kept). On any error, Ctrl-C or SIGTERM the temporary folder is removed, so
nothing partial is left and nothing that was there before is lost. A write that fails (full
disk, read-only place) becomes one line naming ``--out``.

``locked(out)`` holds an exclusive lock on a folder, for commands (sweeps) that fill one over
several runs: a second command on the same folder is refused instead of interleaving.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from meshsim.errors import ScenarioError

LOCK_NAME = ".meshsim.lock"


def check_target(out: Path, option: str = "--out") -> None:
    """Refuse an ``--out`` that cannot be a folder (a file, a device such as /dev/null)."""
    if out.exists() and not out.is_dir():
        raise ScenarioError(f"{out} exists and is not a folder", option)


def probe(out: Path, option: str = "--out") -> None:
    """Fail now, not after an hour of simulation, if ``out`` cannot be written: a file or a
    device in its place, or a nearest existing folder where nothing can be created."""
    check_target(out, option)
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir():
        raise ScenarioError(f"{existing} is not a folder", option)
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".meshsim-probe-", dir=existing))
    except OSError as exc:
        raise _write_error(exc, out, option) from None


@contextlib.contextmanager
def staged(out: str | Path, option: str = "--out") -> Iterator[Path]:
    """A temporary folder to write into; moved to ``out`` on success, removed on failure."""
    out = Path(out)
    check_target(out, option)
    created = [p for p in (out.parent, *out.parent.parents) if not p.exists()]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
        temp.chmod(0o777 & ~_umask())  # as mkdir would make it, not mkdtemp's 0o700
    except OSError as exc:
        _remove_empty(created)
        raise _write_error(exc, out, option) from None
    try:
        yield temp
        _publish(temp, out)
    except OSError as exc:
        raise _write_error(exc, out, option) from None
    finally:
        shutil.rmtree(temp, ignore_errors=True)
        if not out.exists():
            _remove_empty(created)


def final_path(path: Path, temp: Path, out: Path) -> Path:
    """Where a file written under ``temp`` ends up under ``out`` (for 'wrote ...' lines)."""
    return Path(out) / Path(path).relative_to(temp)


def _publish(temp: Path, out: Path) -> None:
    if not out.exists():
        with contextlib.suppress(OSError):  # (created meanwhile: merge into it)
            os.rename(temp, out)  # one atomic step: out appears complete
            return
    _merge(temp, out)


def _merge(src: Path, dst: Path) -> None:
    """Move every file of ``src`` into ``dst``, each by an atomic replace."""
    dst.mkdir(exist_ok=True)
    for entry in sorted(src.iterdir()):
        target = dst / entry.name
        if entry.is_dir() and not entry.is_symlink():
            _merge(entry, target)
        else:
            os.replace(entry, target)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:  # deepest first
        with contextlib.suppress(OSError):
            folder.rmdir()


def _write_error(exc: OSError, out: Path, option: str) -> ScenarioError:
    reason = exc.strerror or str(exc) or type(exc).__name__
    return ScenarioError(f"cannot write {out}: {reason}; nothing was written", option)


@contextlib.contextmanager
def locked(folder: str | Path, option: str = "--out") -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (created if needed); refuse if another holds it.

    The lock is ``fcntl.flock`` on ``folder/.meshsim.lock``: the kernel releases it when the
    holder exits, even by ``kill -9``, so a stale lock never blocks a later run.
    """
    folder = Path(folder)
    check_target(folder, option)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise _write_error(exc, folder, option) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise ScenarioError(
                f"{folder} is in use by another meshsim command (pid {holder}); wait for it "
                "or choose another folder",
                option,
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield folder
    finally:
        os.close(fd)
