"""Training subsets at scale: a file of millions of sample keys, kept as a sorted array of 64-bit key hashes.

A subset is stored as `<name>.npy` (numpy uint64, sorted, unique) under ADVISORY_SUBSETS_DIR and read
memory-mapped, so checking a blocklist version against a thousand models touches only the pages that
binary search visits. A key's hash is the first 8 bytes of its BLAKE2b digest, read little-endian: two
different keys share one with odds of about 1 in 10^9 for a 10k-key version against a 1M-key subset,
which would count one sample too many, never hide one.
"""
import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings

from apps.core.errors import TakedownError
from apps.core.files import replacing

_BATCH = 262_144


def key_hash(key: str) -> int:
    """The 64-bit hash of one sample key."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


def hash_keys(keys: Iterable[str]) -> np.ndarray:
    """The hashes of keys, as uint64, in the order given."""
    joined = b"".join(hashlib.blake2b(k.encode(), digest_size=8).digest() for k in keys)
    return np.frombuffer(joined, dtype="<u8").astype(np.uint64, copy=False)


def sorted_hashes(keys: Iterable[str]) -> np.ndarray:
    """The distinct hashes of keys, sorted: what a subset file holds, and what is looked up in one."""
    return np.unique(hash_keys(keys))


def subsets_dir() -> Path:
    return Path(settings.ADVISORY_SUBSETS_DIR)


def subset_open(name: str) -> np.ndarray:
    """A stored subset, memory-mapped (read-only)."""
    path = subsets_dir() / name
    try:
        return np.load(path, mmap_mode="r")
    except FileNotFoundError:
        raise TakedownError(f"training subset file {path} is missing") from None


def subset_hits(subset: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Which of `hashes` (sorted uint64) are in `subset` (sorted uint64, usually memory-mapped): a bool mask."""
    if len(subset) == 0 or len(hashes) == 0:
        return np.zeros(len(hashes), dtype=bool)
    at = np.searchsorted(subset, hashes)
    np.minimum(at, len(subset) - 1, out=at)
    return np.asarray(subset[at]) == hashes


# ---------------------------------------------------------------- reading a file of keys


def _parquet_keys(path: Path, label: str) -> Iterator[list[str]]:
    try:
        handle = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise TakedownError(f"{label}: not a readable parquet file ({exc})") from None
    names = handle.schema_arrow.names
    if "key" not in names:
        raise TakedownError(f"{label}: no `key` column (columns: {', '.join(names[:20]) or 'none'})")
    try:
        for batch in handle.iter_batches(batch_size=_BATCH, columns=["key"]):
            column = batch.column(0)
            if column.null_count:
                raise TakedownError(f"{label}: the `key` column has {column.null_count} empty values")
            yield [str(k) for k in column.to_pylist()]
    except pa.ArrowException as exc:
        raise TakedownError(f"{label}: not a readable parquet file ({exc})") from None


def _text_keys(path: Path, label: str) -> Iterator[list[str]]:
    try:
        with open(path, encoding="utf-8") as handle:
            batch = []
            for line in handle:
                key = line.strip()
                if key:
                    batch.append(key)
                if len(batch) == _BATCH:
                    yield batch
                    batch = []
            yield batch
    except UnicodeDecodeError:
        raise TakedownError(f"{label}: neither parquet nor UTF-8 text with one key per line") from None


def _key_batches(path: Path) -> Iterator[list[str]]:
    label = f"keys file {path}"
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise TakedownError(f"{label}: cannot be read ({exc.strerror})") from None
    if magic == b"PAR1":
        yield from _parquet_keys(path, label)
    else:
        yield from _text_keys(path, label)


def subset_store(*, source: Path, name: str) -> int:
    """Hash every key of a keys file (parquet with a `key` column, or text with one key per line) and store the
    distinct hashes sorted as `name` under ADVISORY_SUBSETS_DIR; returns how many. The file appears whole or not
    at all; a bad file (unreadable, no key column, no keys) is refused naming it and what is wrong."""
    source = Path(source).expanduser()
    parts = [np.unique(hash_keys(batch)) for batch in _key_batches(source) if batch]
    hashes = np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.uint64)
    if len(hashes) == 0:
        raise TakedownError(f"keys file {source}: no keys in it")
    folder = subsets_dir()
    folder.mkdir(parents=True, exist_ok=True)
    subset_write(folder / name, hashes)
    return len(hashes)


def subset_write(path: Path, hashes: np.ndarray) -> None:
    """Write sorted, distinct uint64 hashes as a .npy file, atomically."""
    with replacing(path, sync_folder=False) as temp:
        with open(temp, "wb") as handle:
            np.save(handle, np.ascontiguousarray(hashes, dtype="<u8"))
