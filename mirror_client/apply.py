"""Remove blocked samples from local img2dataset shards.

A shard ``NNNNN`` is ``NNNNN.parquet`` (every row, including failed downloads)
and ``NNNNN.tar`` (only successful samples, members ``KEY.jpg``, ``KEY.txt``,
``KEY.json``...). ``NNNNN_stats.json`` is left alone: it describes the download,
not the current content.
"""

from __future__ import annotations

import os
import posixpath
import re
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import ApplyError
from .fsutil import atomic_write, fsync_folder

# Shard names come from the (signed) manifest but end up in local paths.
_SAFE_SHARD = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]*$")

# pyarrow's writer accepts these codec names; anything else falls back to its default.
_CODECS = {"SNAPPY": "snappy", "GZIP": "gzip", "BROTLI": "brotli", "ZSTD": "zstd",
           "LZ4": "lz4", "LZ4_RAW": "lz4", "UNCOMPRESSED": "none"}


@dataclass
class ApplyResult:
    """What :func:`apply_blocklist` did; shard lists are sorted shard names."""

    samples_removed: int = 0
    rows_removed: int = 0
    members_removed: int = 0
    shards_rewritten: list[str] = field(default_factory=list)
    files_rewritten: list[str] = field(default_factory=list)
    shards_clean: list[str] = field(default_factory=list)
    shards_missing: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One human line, also used as the acknowledgement's detail."""
        parts = [f"{self.samples_removed} {_plural(self.samples_removed, 'sample')} removed "
                 f"from {len(self.shards_rewritten)} {_plural(len(self.shards_rewritten), 'shard')}"]
        if self.shards_clean:
            n = len(self.shards_clean)
            parts.append(f"{n} {_plural(n, 'shard')} already clean")
        if self.shards_missing:
            n = len(self.shards_missing)
            parts.append(f"{n} {_plural(n, 'shard')} not present locally")
        return "; ".join(parts)


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def check_shard_name(shard: str) -> str:
    """Return ``shard`` if it is a plain shard name (no path), else raise :class:`ApplyError`."""
    if not isinstance(shard, str) or not _SAFE_SHARD.match(shard):
        raise ApplyError(f"refusing unsafe shard name {shard!r}")
    return shard


def shard_present(data_dir: Path, shard: str) -> bool:
    """True when ``data_dir`` holds the parquet or the tar of ``shard``."""
    check_shard_name(shard)
    return (Path(data_dir) / f"{shard}.parquet").exists() or (Path(data_dir) / f"{shard}.tar").exists()


def local_shards(data_dir: Path) -> set[str]:
    """Names of the shards ``data_dir`` holds (an ``NNNNN.parquet`` or an ``NNNNN.tar``)."""
    return {p.stem for p in Path(data_dir).iterdir()
            if p.suffix in (".parquet", ".tar") and p.is_file() and _SAFE_SHARD.match(p.stem)}


def member_key(name: str) -> str:
    """The sample key of a tar member: its basename up to the first dot (webdataset convention)."""
    return posixpath.basename(name).split(".", 1)[0]


def apply_blocklist(
    data_dir: Path, blocked: Mapping[str, Iterable[str]], *, key_column: str = "key"
) -> ApplyResult:
    """Drop every blocked key from the local shards of ``data_dir``.

    ``blocked`` maps a shard name (``"00000"``) to its blocked keys. Only files
    that actually hold a blocked key are rewritten, so a second run changes
    nothing. Listed shards with neither file are reported in ``shards_missing``.
    Raises :class:`ApplyError` naming the file on any read or write problem;
    files already rewritten stay rewritten (re-running finishes the job).
    """
    data_dir = Path(data_dir)
    result = ApplyResult()
    for shard in sorted(blocked):
        check_shard_name(shard)
        keys = {str(k) for k in blocked[shard]}
        parquet_path = data_dir / f"{shard}.parquet"
        tar_path = data_dir / f"{shard}.tar"
        if not parquet_path.exists() and not tar_path.exists():
            result.shards_missing.append(shard)
            continue
        removed: set[str] = set()
        # Parquet first: it validates the key column before anything is written.
        if parquet_path.exists() and keys:
            rows, row_keys = _guard(parquet_path, rewrite_parquet, keys, key_column, False)
            if rows:
                result.rows_removed += rows
                result.files_rewritten.append(parquet_path.name)
                removed |= row_keys
        if tar_path.exists() and keys:
            members, member_keys = _guard(tar_path, rewrite_tar, keys, False)
            if members:
                result.members_removed += members
                result.files_rewritten.append(tar_path.name)
                removed |= member_keys
        if removed:
            result.shards_rewritten.append(shard)
            result.samples_removed += len(removed)
        else:
            result.shards_clean.append(shard)
    if result.files_rewritten:
        fsync_folder(data_dir)  # every rename at once, before the caller records the version as applied
    return result


def _guard(path: Path, rewrite, *args):
    try:
        return rewrite(path, *args)
    except ApplyError:
        raise
    except (OSError, pa.ArrowException, tarfile.TarError) as exc:
        raise ApplyError(f"cannot rewrite {path}: {exc}") from exc


def rewrite_parquet(path: Path, blocked: set[str], key_column: str = "key",
                    sync_folder: bool = True) -> tuple[int, set[str]]:
    """Rewrite ``path`` without the rows whose key is blocked.

    Returns (rows removed, blocked keys found). The file is not touched when
    no row matches. Schema, schema metadata, column order and the other rows
    are kept; compression and row group size follow the original file.
    ``sync_folder``: see :func:`atomic_write`.
    """
    pf = pq.ParquetFile(path)
    try:
        if key_column not in pf.schema_arrow.names:
            raise ApplyError(f"{path} has no {key_column!r} column")
        keys = pf.read(columns=[key_column]).column(key_column)
        mask, found = _blocked_mask(keys, blocked, path)
        if not found:
            return 0, set()
        table = pf.read()
        metadata = pf.metadata
    finally:
        pf.close()

    kept = table.filter(pc.invert(mask))
    options = _writer_options(metadata, kept.num_rows)
    with atomic_write(path, sync_folder=sync_folder) as f:
        pq.write_table(kept, f, **options)
    return table.num_rows - kept.num_rows, found


def _blocked_mask(keys: pa.ChunkedArray, blocked: set[str], path: Path) -> tuple[pa.ChunkedArray, set[str]]:
    """Boolean mask of blocked rows and the blocked keys (as given) that were found."""
    typ = keys.type
    if pa.types.is_integer(typ):
        # An integer copy of a zero-padded key column lost the padding: compare numbers.
        by_value = _integers_of(blocked, typ)
        value_set = pa.array(list(by_value), type=typ)
        mask = pc.fill_null(pc.is_in(keys, value_set=value_set), False)
        found = {by_value[v] for v in keys.filter(mask).to_pylist()}
    else:
        if not (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
            try:
                keys = keys.cast(pa.string())
            except pa.ArrowException as exc:
                raise ApplyError(f"{path}: key column of type {typ} cannot be compared to keys") from exc
        value_set = pa.array(sorted(blocked), type=keys.type)
        mask = pc.fill_null(pc.is_in(keys, value_set=value_set), False)
        found = set(keys.filter(mask).to_pylist())
    return mask, found


def _integers_of(blocked: set[str], typ: pa.DataType) -> dict[int, str]:
    bits = typ.bit_width
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if pa.types.is_signed_integer(typ) else (0, (1 << bits) - 1)
    values: dict[int, str] = {}
    for key in blocked:
        if key.isascii() and key.isdigit() and low <= int(key) <= high:
            values[int(key)] = key
    return values


def _writer_options(metadata: pq.FileMetaData, rows: int) -> dict:
    options: dict = {}
    if metadata.num_row_groups and metadata.num_columns:
        codec = metadata.row_group(0).column(0).compression
        if codec in _CODECS:
            options["compression"] = _CODECS[codec]
        largest = max(metadata.row_group(i).num_rows for i in range(metadata.num_row_groups))
        options["row_group_size"] = max(1, largest)
    if metadata.format_version in ("1.0", "2.4", "2.6"):
        options["version"] = metadata.format_version
    return options


def blocked_in_parquet(path: Path, blocked: set[str], key_column: str = "key") -> set[str]:
    """The blocked keys (as given) that rows of the parquet file ``path`` still hold."""
    try:
        pf = pq.ParquetFile(path)
        try:
            if key_column not in pf.schema_arrow.names:
                raise ApplyError(f"{path} has no {key_column!r} column")
            keys = pf.read(columns=[key_column]).column(key_column)
        finally:
            pf.close()
    except (OSError, pa.ArrowException) as exc:
        raise ApplyError(f"cannot read {path}: {exc}") from exc
    return _blocked_mask(keys, blocked, path)[1] if blocked else set()


def blocked_in_tar(path: Path, blocked: set[str]) -> set[str]:
    """The blocked keys that members of the tar file ``path`` still hold."""
    try:
        return {member_key(name) for name, _, _ in tar_members(path)} & blocked
    except (OSError, tarfile.TarError) as exc:
        raise ApplyError(f"{path} is not a readable tar file: {exc}") from exc


def tar_members(path: Path) -> list[tuple[str, int, int]]:
    """``(name, start, end)`` of every member of the tar file ``path``, in order.

    A member's bytes run from its first header block (a PAX or GNU long-name
    header before it included) to where the next member's begin; the last one
    ends after its data and padding. Ordinary archives (ustar, PAX and GNU long
    names, as webdataset writers make them) are read by walking their header
    blocks, which is many times faster than :mod:`tarfile`; anything else (a
    global PAX header, sparse files, base-256 numbers, a bad checksum, a short
    file) is left to :mod:`tarfile`, so both give the same answer or the same error.
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        fast = _walk_tar(f, size)
    return fast if fast is not None else tarfile_members(path)


def tarfile_members(path: Path) -> list[tuple[str, int, int]]:
    """What :func:`tar_members` answers, read by :mod:`tarfile` (the slow, general way)."""
    with tarfile.open(path, "r:") as src:
        members = src.getmembers()
    ends = [m.offset for m in members[1:]]
    if members:
        last = members[-1]
        data = last.size if last.isreg() or last.type not in tarfile.SUPPORTED_TYPES else 0
        ends.append(last.offset_data + data + (-data) % tarfile.BLOCKSIZE)
    return [(m.name, m.offset, end) for m, end in zip(members, ends, strict=True)]


_BLOCK = tarfile.BLOCKSIZE
_ZERO_BLOCK = bytes(_BLOCK)
# Types whose data follows the header (tarfile's isreg(): regular, old regular, contiguous).
_DATA_TYPES = {b"0", b"\0", b"7"}
# Types that carry no data in an ordinary archive.
_NO_DATA_TYPES = {b"1", b"2", b"3", b"4", b"5", b"6"}


def _walk_tar(f, size: int) -> list[tuple[str, int, int]] | None:
    """The members of an ordinary tar by its header blocks, or None for tarfile to read it (see tar_members)."""
    members: list[tuple[str, int, int]] = []
    offset = 0
    start = None  # where the current member's first header (PAX or long name) began
    long_name = pax_name = pax_size = None  # a PAX path wins over a GNU long name, as in tarfile
    while True:
        f.seek(offset)
        header = f.read(_BLOCK)
        if len(header) < _BLOCK:
            return None if offset == 0 or start is not None else _close(members, offset)
        if header == _ZERO_BLOCK:
            return None if offset == 0 or start is not None else _close(members, offset)
        fields = _header_fields(header)
        if fields is None:
            return None
        name, kind, data_size = fields
        data_end = offset + _BLOCK + data_size + (-data_size) % _BLOCK
        if kind in (b"x", b"L", b"K"):
            if data_end > size or data_size > 1 << 20:
                return None
            data = f.read(data_size)
            if kind == b"x":
                pax = _pax_records(data)
                if pax is None:
                    return None
                pax_name = pax.get("path", pax_name)
                if "size" in pax:
                    if not pax["size"].isdigit():
                        return None
                    pax_size = int(pax["size"])
            elif kind == b"L":
                long_name = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            start = offset if start is None else start
            offset = data_end
            continue
        if kind in _DATA_TYPES:
            if kind == b"\0" and name.endswith("/"):
                return None  # an old-style directory: tarfile's rules
            if pax_size is not None:
                data_size = pax_size
                data_end = offset + _BLOCK + data_size + (-data_size) % _BLOCK
        elif kind in _NO_DATA_TYPES:
            data_end = offset + _BLOCK
        else:
            return None
        if data_end > size:
            return None
        if members:
            members[-1] = (members[-1][0], members[-1][1], start if start is not None else offset)
        name = pax_name if pax_name is not None else long_name if long_name is not None else name
        members.append((name, offset if start is None else start, -1))
        start = long_name = pax_name = pax_size = None
        offset = data_end


def _close(members: list[tuple[str, int, int]], end: int) -> list[tuple[str, int, int]]:
    if members:
        members[-1] = (members[-1][0], members[-1][1], end)
    return members


def _header_fields(header: bytes) -> tuple[str, bytes, int] | None:
    """(name, type, data size) of one header block, or None when it is not an ordinary, valid one."""
    checksum = _octal(header[148:156])
    if checksum is None:
        return None
    unsigned = 256 + sum(header[:148]) + sum(header[156:512])
    if checksum != unsigned:
        signed = 256 + sum(b - 256 if b > 127 else b for b in header[:148] + header[156:512])
        if checksum != signed:
            return None
    size = _octal(header[124:136])
    if size is None:
        return None
    kind = header[156:157]
    name = header[:100].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    prefix = header[345:500].split(b"\0", 1)[0]
    if kind == b"5":  # tarfile strips a directory's trailing slashes
        name = name.rstrip("/")
    if prefix and kind not in (b"L", b"K", b"S"):
        name = prefix.decode("utf-8", "surrogateescape") + "/" + name
    return name, kind, size


def _octal(field: bytes) -> int | None:
    """A NUL- or space-terminated octal number field, or None (base-256 and anything odd)."""
    if field[:1] in (b"\x80", b"\xff"):
        return None
    text = field.split(b"\0", 1)[0].strip()
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        return None


def _pax_records(data: bytes) -> dict[str, str] | None:
    """The ``length key=value\\n`` records of a PAX header, or None when they are not well formed."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        if data[pos:].strip(b"\0") == b"":
            break
        space = data.find(b" ", pos)
        if space < 0 or not data[pos:space].isdigit():
            return None
        length = int(data[pos:space])
        record = data[space + 1:pos + length]
        if length <= 0 or pos + length > len(data) or not record.endswith(b"\n") or b"=" not in record:
            return None
        key, _, value = record[:-1].partition(b"=")
        if key == b"hdrcharset":
            return None
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


def rewrite_tar(path: Path, blocked: set[str], sync_folder: bool = True) -> tuple[int, set[str]]:
    """Rewrite ``path`` without the members whose key is blocked.

    Returns (members removed, blocked keys found). The file is not touched when
    no member matches. Kept members are copied byte for byte (their header
    blocks, any PAX or GNU long-name headers before them, their data and
    padding), in order; the archive ends with the usual two zero blocks,
    padded to a whole tar record. ``sync_folder``: see :func:`atomic_write`.
    """
    members = tar_members(path)  # read once: for the check and the byte ranges to copy
    found = {member_key(name) for name, _, _ in members} & blocked
    if not found:
        return 0, set()
    removed = written = 0
    with open(path, "rb") as raw, atomic_write(path, sync_folder=sync_folder) as out:
        for name, start, end in members:
            if member_key(name) in blocked:
                removed += 1
                continue
            raw.seek(start)
            remaining = end - start
            while remaining:
                chunk = raw.read(min(remaining, 1 << 20))
                if not chunk:
                    raise ApplyError(f"{path} ends inside member {name!r}")
                out.write(chunk)
                remaining -= len(chunk)
            written += end - start
        trailer = 2 * tarfile.BLOCKSIZE
        out.write(b"\0" * (trailer + (-(written + trailer)) % tarfile.RECORDSIZE))
    return removed, found
