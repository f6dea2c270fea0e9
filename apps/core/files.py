"""Writing files so that readers see the old content or the new, never a part: one way for every writer."""
import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def replacing(path: Path, *, mode: int | None = None, sync_folder: bool = True) -> Iterator[Path]:
    """A temporary path beside `path` to write; on success it is made durable and renamed over `path`.

    On an error the temporary file goes and `path` is left as it was. Without
    `sync_folder` the new name itself may be lost in a machine crash (the file
    is whole either way): for writers to whom a fsync per file is too dear.
    """
    path = Path(path)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    temp = Path(temp)
    try:
        yield temp
        with open(temp, "rb+") as handle:  # on disk before the name says the file is there
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if sync_folder:
        _sync_folder(path.parent)


def write_atomic(path: Path, data: bytes, *, mode: int | None = None, sync_folder: bool = True) -> None:
    """Replace `path` with `data` atomically (a reader sees the old file or the new one)."""
    with replacing(path, mode=mode, sync_folder=sync_folder) as temp:
        temp.write_bytes(data)


def write_once(path: Path, data: bytes, *, mode: int = 0o600) -> bool:
    """Create `path` holding `data` unless it exists; False when it did. The file appears whole or not at all,
    so processes racing to create it all end up reading the same content."""
    path = Path(path)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        try:
            os.link(temp, path)
        except FileExistsError:
            return False
        _sync_folder(path.parent)
        return True
    finally:
        os.unlink(temp)
