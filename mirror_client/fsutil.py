"""Crash-safe file replacement shared by the shard rewriter and the state file."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_write(path: Path, *, sync_folder: bool = True) -> Iterator[BinaryIO]:
    """Yield a temporary file next to ``path``; on success it replaces ``path``.

    The temporary file lives in the same folder so that ``os.replace`` is a
    rename on one filesystem: readers see either the old or the new content,
    never a half-written file. On any error the temporary file is removed and
    ``path`` is left as it was. The content is always on disk before the
    rename; ``sync_folder=False`` leaves making the rename itself durable to a
    later :func:`fsync_folder` (one for several files).
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600 files; a mirror's shards are usually world-readable.
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            mode = 0o644
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    if sync_folder:
        fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    """Make the renames done in ``folder`` durable (not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def folder_lock(lock_path: Path, *, timeout: float = 600.0, poll: float = 0.2) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (created if needed) while the block runs.

    A second holder (a cron ``sync`` while ``receive`` is syncing the same folder)
    waits for the first, up to ``timeout`` seconds, then raises TimeoutError. The
    lock goes with the process: a crashed sync never leaves it held.
    """
    import fcntl
    import time

    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"another sync of this folder held {lock_path} for {timeout:.0f} s") from None
                time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
