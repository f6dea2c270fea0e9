"""Reading a release from disk and turning each shard into an index part.

A shard's part (apps.index.index) holds each sample's key, normalised URL,
digests and PDQ, and their fingerprints, computed column-wise: pyarrow reads,
compiled loops (apps.index.kernels) check URLs, fingerprint and decode hex,
and only URLs that are not already in canonical form go through Python. No
database here.
"""
import hashlib
import os
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from apps.core import identifiers, pdq
from apps.core.errors import TakedownError
from apps.index import fingerprints, index, kernels

# Fields the importer understands, with img2dataset's column names as defaults.
FIELDS = ("key", "url", "caption", "status", "md5", "sha1", "sha256", "pdq")
HASH_FIELDS = ("md5", "sha1", "sha256", "pdq")
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
SUCCESS = "success"
BATCH_ROWS = 131_072


@dataclass
class ShardFiles:
    name: str
    parquet: Path
    tar: Path | None

    def digest(self) -> str:
        return file_sha256(self.parquet)


@dataclass
class ColumnMap:
    """Which parquet column holds each field; None when the release has no such column."""

    columns: dict[str, str | None] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        return self.columns.get(name)

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.columns.items() if v}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parse_column_options(options: list[str]) -> dict[str, str]:
    """`--column url=URL` options as {field: column}."""
    mapping = {}
    for option in options:
        name, sep, column = option.partition("=")
        name = name.strip().lower()
        if not sep or not column.strip():
            raise TakedownError(f"--column {option!r} must look like FIELD=COLUMN, for example url=URL")
        if name not in FIELDS:
            raise TakedownError(f"--column {option!r}: unknown field {name!r} (fields: {', '.join(FIELDS)})")
        mapping[name] = column.strip()
    return mapping


def discover_shards(path: Path) -> list[ShardFiles]:
    """The shards of a release folder (or a single parquet file), sorted by name."""
    if not path.exists():
        raise TakedownError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix != ".parquet":
            raise TakedownError(f"{path}: not a parquet file")
        parquets = [path]
    else:
        parquets = sorted(p for p in path.glob("*.parquet") if p.is_file())
        if not parquets:
            raise TakedownError(f"{path}: no .parquet files in this folder")
    shards = []
    for parquet in parquets:
        tar = parquet.with_suffix(".tar")
        shards.append(ShardFiles(name=parquet.stem, parquet=parquet, tar=tar if tar.is_file() else None))
    return shards


def resolve_columns(schema: pa.Schema, requested: dict[str, str], where: Path) -> ColumnMap:
    """Map each field to a column: the one asked for, else img2dataset's name, in any case."""
    names = schema.names
    by_lower = {}
    for name in names:
        by_lower.setdefault(name.lower(), name)
    resolved: dict[str, str | None] = {}
    for name in FIELDS:
        if name in requested:
            if requested[name] not in names:
                raise TakedownError(
                    f"{where.name}: column {requested[name]!r} (asked for {name}) not found; "
                    f"columns are: {', '.join(names)}"
                )
            resolved[name] = requested[name]
        else:
            resolved[name] = names[names.index(name)] if name in names else by_lower.get(name)
    if resolved["url"] is None:
        raise TakedownError(
            f"{where.name}: no URL column (looked for 'url' in any case); "
            f"map one with --column url=NAME. Columns are: {', '.join(names)}"
        )
    return ColumnMap(resolved)


def read_schema(parquet: Path) -> pa.Schema:
    try:
        return pq.read_schema(parquet)
    except (pa.ArrowInvalid, OSError) as exc:
        raise TakedownError(f"{parquet.name}: not a readable parquet file ({exc})") from None


def row_count(parquet: Path) -> int:
    try:
        return pq.ParquetFile(parquet).metadata.num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise TakedownError(f"{parquet.name}: not a readable parquet file ({exc})") from None
def member_key(member_name: str) -> tuple[str, str]:
    """(key, extension) of a webdataset tar member: the basename up to its first dot."""
    base = member_name.rsplit("/", 1)[-1]
    key, dot, rest = base.partition(".")
    return key, ("." + rest.lower()) if dot else ""


def original_sizes(parquet: Path, key_column: str | None) -> dict[str, tuple[int, int]]:
    """Each key's original (width, height) from img2dataset's metadata, when the shard has them."""
    names = {name.lower(): name for name in read_schema(parquet).names}
    width, height = names.get("original_width"), names.get("original_height")
    if not (key_column and width and height):
        return {}
    table = pq.read_table(parquet, columns=[key_column, width, height])
    sizes = {}
    for key, w, h in zip(*(table.column(c).to_pylist() for c in (key_column, width, height)), strict=False):
        if key is not None and w and h:
            sizes[str(key).strip()] = (int(w), int(h))
    return sizes


# img2dataset's default resize ("border") pads the scaled image to a square with white.
_PAD_MIN_LUMA = 235


def unpad(rgb, original: tuple[int, int] | None):
    """The picture inside img2dataset's white square padding, or the image itself when it has none.

    PDQ hashes the whole frame, so the padding alone moves the hash about 110
    bits away from the original's and no hotline hash would ever match. The
    padding is recomputed exactly from the original size (as img2dataset
    scales and centres), and cut only when those strips really are white, so a
    picture on a white background that was never padded is left alone.
    """
    import numpy as np

    width, height = rgb.size
    if not original or width != height:
        return rgb
    scale = width / max(original)
    inner_w, inner_h = round(original[0] * scale), round(original[1] * scale)
    if (inner_w >= width and inner_h >= height) or inner_w > width or inner_h > height or min(inner_w, inner_h) < 8:
        return rgb
    left, top = (width - inner_w) // 2, (height - inner_h) // 2
    luma = np.asarray(rgb.convert("L"))
    strips = [luma[:top], luma[top + inner_h:], luma[:, :left], luma[:, left + inner_w:]]
    pad = np.concatenate([strip.ravel() for strip in strips if strip.size])
    if np.percentile(pad, 2) < _PAD_MIN_LUMA:
        return rgb
    return rgb.crop((left, top, left + inner_w, top + inner_h))




# ---------------------------------------------------------------- column-wise identifiers

def _array(values) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _string_buffers(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(bytes, offsets) of a string array, for the compiled loops."""
    values = _array(values)
    if pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    offsets = np.frombuffer(values.buffers()[1], np.int32)[values.offset:values.offset + len(values) + 1]
    data = np.frombuffer(values.buffers()[2], np.uint8) if values.buffers()[2] is not None else np.zeros(0, np.uint8)
    return data, offsets.astype(np.int64)


class Fingerprinter:
    """Column-wise URL normalisation and fingerprints, one per process (it caches hosts)."""

    _HOST_CACHE_LIMIT = 500_000

    def __init__(self):
        # Hosts seen so far, sorted by the FNV-1a hash of their bytes, with fingerprints and names.
        self._seen, self._fps, self._names = _no_hosts()

    def urls_and_keys(self, urls: pa.Array, keys: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
        """(normalised URLs, their fingerprints, key fingerprints); only the URLs that are not
        already canonical go through Python's normalise_url."""
        canonical = kernels.canonical_urls(*_string_buffers(urls))
        dirty = np.nonzero(~canonical)[0]
        if len(dirty):
            values = urls.to_pylist()
            for i in dirty.tolist():
                values[i] = identifiers.normalise_url(values[i])
            urls = pa.array(values, pa.string())
        url_fps = kernels.fingerprint_strings(*_string_buffers(urls))
        url_fps[np.asarray(pc.equal(pc.utf8_length(urls), 0))] = 0  # 0: no URL
        return urls, url_fps, kernels.fingerprint_strings(*_string_buffers(keys))

    def hosts(self, urls: pa.Array) -> tuple[np.ndarray, list[str]]:
        """Each URL's host fingerprint (0 without a host) and the distinct hosts; hosts are few, so they
        are cached by a hash of their bytes and only a host never seen before is decoded."""
        data, offsets = _string_buffers(urls)
        starts, ends, byte_hashes = kernels.host_spans(data, offsets)
        with_host = np.nonzero(ends > starts)[0]
        unique, first, inverse = np.unique(byte_hashes[with_host], return_index=True, return_inverse=True)
        at = np.searchsorted(self._seen, unique)
        known = (at < len(self._seen)) & (self._seen[np.minimum(at, len(self._seen) - 1)] == unique) \
            if len(self._seen) else np.zeros(len(unique), bool)
        if not known.all():
            if len(self._seen) > self._HOST_CACHE_LIMIT:
                self._seen, self._fps, self._names = _no_hosts()
                known[:] = False
            rows = with_host[first[~known]]
            names = [bytes(data[starts[row]:ends[row]]).decode("utf-8", "replace") for row in rows.tolist()]
            new = unique[~known]  # sorted, as np.unique returns them: insert in place
            where = np.searchsorted(self._seen, new)
            self._seen = np.insert(self._seen, where, new)
            self._fps = np.insert(self._fps, where, fingerprints.strings(names))
            self._names = np.insert(self._names, where, np.asarray(names, dtype=object))
            at = np.searchsorted(self._seen, unique)
        host_fps = np.zeros(len(ends), np.uint64)
        host_fps[with_host] = self._fps[at][inverse.ravel()]
        return host_fps, self._names[at].tolist()


def _no_hosts() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(0, np.uint64), np.zeros(0, np.uint64), np.zeros(0, dtype=object)


_fingerprinter: tuple[int, Fingerprinter] | None = None


def fingerprinter() -> Fingerprinter:
    """This process's Fingerprinter (a forked child makes its own)."""
    global _fingerprinter
    if _fingerprinter is None or _fingerprinter[0] != os.getpid():
        _fingerprinter = (os.getpid(), Fingerprinter())
    return _fingerprinter[1]


_HEX = np.full(256, 255, dtype=np.uint8)
_HEX[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10, dtype=np.uint8)
_HEX[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16, dtype=np.uint8)


def digest_column(values: pa.Array, kind: str, width: int, where) -> pa.Array:
    """Hex (or raw binary) digests as a fixed-size binary column; a bad value names its row."""
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        data, offsets = _string_buffers(values)
        valid = np.asarray(_array(values).is_valid())
        codes, bad = kernels.hex_decode(data, offsets, valid, width)
        if bad < 0:  # the usual case: every value plain hex of the right length
            return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(codes), [
                pa.py_buffer(np.packbits(valid, bitorder="little").tobytes()), pa.py_buffer(codes.tobytes())])
    if pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type) \
            or pa.types.is_fixed_size_binary(values.type):
        lengths = pc.binary_length(values)
        bad = pc.and_(pc.is_valid(values), pc.not_equal(lengths, width))
        _refuse(values, bad, kind, where, lambda v: v.hex() if isinstance(v, bytes) else v)
        return pc.cast(values, pa.binary(width))
    text = pc.replace_substring_regex(pc.utf8_lower(pc.utf8_trim_whitespace(values)), r"^0x", "")
    text = pc.if_else(pc.equal(pc.utf8_length(text), 0), pa.scalar(None, pa.string()), text)
    bad = pc.and_(pc.is_valid(text), pc.invert(pc.match_substring_regex(text, f"^[0-9a-f]{{{2 * width}}}$")))
    _refuse(values, bad, kind, where)
    valid = np.asarray(pc.is_valid(text))
    filled = _array(pc.fill_null(text, "0" * (2 * width)))
    data = np.frombuffer(filled.buffers()[2], np.uint8)
    first = np.frombuffer(filled.buffers()[1], np.int32)[filled.offset]
    nibbles = _HEX[data[first:first + len(filled) * 2 * width]].reshape(-1, width, 2)
    codes = (nibbles[:, :, 0] << 4) | nibbles[:, :, 1]
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(codes), [
        pa.py_buffer(np.packbits(valid, bitorder="little").tobytes()), pa.py_buffer(codes.tobytes())])


def _refuse(values: pa.Array, bad: pa.Array, kind: str, where, show=lambda v: v) -> None:
    if not pc.any(bad).as_py():
        return
    first = int(np.nonzero(np.asarray(bad.fill_null(False)))[0][0])
    row, column = where(first)
    value = values[first].as_py()
    try:
        identifiers.normalise_hex_or_none(kind, value)
        reason = f"{kind} must be {identifiers.HEX_LENGTHS[kind]} hex characters"
    except identifiers.InvalidIdentifier as exc:
        reason = str(exc)
    raise TakedownError(f"{row}, column {column!r}: {reason}")


# ---------------------------------------------------------------- images


@dataclass
class ImageHashes:
    md5: bytes
    sha256: bytes
    pdq: bytes | None = None
    quality: int | None = None


def tar_images(tar_path: Path, sizes: dict[str, tuple[int, int]], want_pdq: bool
               ) -> tuple[dict[str, ImageHashes], list[str]]:
    """md5, sha256 and (if wanted) PDQ of every image in a webdataset tar, by key; and the problems met.

    `sizes` gives each key's original (width, height), to see through img2dataset's padding.
    """
    hashes: dict[str, ImageHashes] = {}
    problems: list[str] = []
    try:
        with tarfile.open(tar_path, "r:*") as archive:
            for member in archive:
                if not member.isfile():
                    continue
                key, ext = member_key(member.name)
                if ext not in IMAGE_EXTENSIONS:
                    continue
                data = archive.extractfile(member).read()
                found = ImageHashes(hashlib.md5(data).digest(), hashlib.sha256(data).digest())
                if want_pdq:
                    try:
                        hex_hash, found.quality = pdq.hash_image(unpad(pdq.decode(data), sizes.get(key)))
                        found.pdq = bytes.fromhex(hex_hash)
                    except ValueError as exc:
                        problems.append(f"{tar_path.name}:{member.name}: {exc}")
                hashes[key] = found
    except (tarfile.TarError, OSError) as exc:
        raise TakedownError(f"{tar_path.name}: not a readable tar file ({exc})") from None
    return hashes, problems


# ---------------------------------------------------------------- parts


def build_part(shard: ShardFiles, columns: ColumnMap, parts: Path, *, source_sha256: str,
               hash_images: bool = True) -> dict:
    """Index one shard into parts/<shard>.*; a complete part from the same file is kept as it is."""
    done = index.part_done(parts, shard.name, source_sha256)
    if done is not None:
        return done
    started = time.monotonic()
    prints = fingerprinter()
    key_col, url_col, status_col = columns.get("key"), columns.get("url"), columns.get("status")
    wanted = [c for c in dict.fromkeys((key_col, url_col, status_col, *(columns.get(k) for k in HASH_FIELDS))) if c]
    images: dict[str, ImageHashes] = {}
    problems: list[str] = []
    if hash_images and shard.tar is not None:
        images, problems = tar_images(shard.tar, original_sizes(shard.parquet, key_col), columns.get("pdq") is None)
    digests = [k for k in HASH_FIELDS if columns.get(k)]
    if hash_images and shard.tar is not None:
        digests += ["img_md5", "img_sha256", *([] if columns.get("pdq") else ["pdq"])]
    schema = index.part_schema(digests)
    writer = index.PartWriter(parts, shard.name, schema)
    rows_read = 0
    try:
        source = pq.ParquetFile(shard.parquet)
        resolve_columns(source.schema_arrow, columns.as_dict(), shard.parquet)
        for batch in source.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
            table = pa.Table.from_batches([batch])
            numbers = pa.array(np.arange(rows_read, rows_read + batch.num_rows, dtype=np.uint32))
            rows_read += batch.num_rows
            if status_col:
                keep = pc.fill_null(pc.equal(table.column(status_col), SUCCESS), False)
                table, numbers = table.filter(keep), numbers.filter(keep)
            if not table.num_rows:
                continue
            writer.write(*_part_batch(prints, shard, table, numbers, columns, images, schema))
    except (pa.ArrowInvalid, OSError) as exc:
        writer.abort()
        raise TakedownError(f"{shard.parquet.name}: cannot read rows ({exc})") from None
    except BaseException:
        writer.abort()
        raise
    return writer.finish({
        "source_sha256": source_sha256, "rows": rows_read, "images": len(images), "problems": problems,
        "seconds": round(time.monotonic() - started, 3),
    })


def _part_batch(prints: Fingerprinter, shard: ShardFiles, table: pa.Table, numbers: pa.Array, columns: ColumnMap,
                images: dict[str, ImageHashes], schema: pa.Schema) -> tuple[pa.RecordBatch, list[str]]:
    key_col, url_col = columns.get("key"), columns.get("url")
    if key_col:
        keys = pc.utf8_trim_whitespace(_array(pc.cast(table.column(key_col), pa.string())))
        empty = pc.fill_null(pc.equal(pc.utf8_length(keys), 0), True)
        if pc.any(empty).as_py():
            first = int(np.nonzero(np.asarray(empty))[0][0])
            raise TakedownError(f"{shard.parquet.name} row {numbers[first].as_py()}: column {key_col!r} is empty")
    else:
        # Plain metadata parquet has no key: the row's place in its file names it.
        keys = pc.binary_join_element_wise(pa.scalar(shard.name), pc.cast(numbers, pa.string()), ":")
    urls, url_fps, key_fps = prints.urls_and_keys(
        pc.fill_null(_array(table.column(url_col)).cast(pa.string()), ""), keys)
    host_fps, hosts = prints.hosts(urls)
    data = {"row": numbers, "key": keys, "url": urls, "url_fp": pa.array(url_fps), "key_fp": pa.array(key_fps),
            "host_fp": pa.array(host_fps)}
    for kind in HASH_FIELDS:
        col = columns.get(kind)
        if col:
            data[kind] = digest_column(
                _array(table.column(col)), kind, index.DIGEST_WIDTHS[kind],
                lambda i, col=col: (f"{shard.parquet.name} row {numbers[i].as_py()}", col),
            )
    if "img_md5" in schema.names:
        found = [images.get(k) for k in keys.to_pylist()]
        data["img_md5"] = pa.array([f.md5 if f else None for f in found], pa.binary(16))
        data["img_sha256"] = pa.array([f.sha256 if f else None for f in found], pa.binary(32))
        if not columns.get("pdq"):
            data["pdq"] = pa.array([f.pdq if f else None for f in found], pa.binary(32))
            data["pdq_quality"] = pa.array([f.quality if f else None for f in found], pa.uint8())
    if "pdq_quality" in schema.names and "pdq_quality" not in data:
        data["pdq_quality"] = pa.nulls(table.num_rows, pa.uint8())  # a pdq column has no quality
    batch = pa.RecordBatch.from_arrays([_array(data[name]) for name in schema.names], schema=schema)
    return batch, hosts
