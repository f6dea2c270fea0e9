"""Reading a release from disk: shard layout, column mapping, rows and image hashes.

No database here: services.release_import decides what to store.
"""
import hashlib
import multiprocessing
import os
import tarfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from apps.core import identifiers, pdq
from apps.core.errors import TakedownError

# Fields the importer understands, with img2dataset's column names as defaults.
FIELDS = ("key", "url", "caption", "status", "md5", "sha1", "sha256", "pdq")
HASH_FIELDS = ("md5", "sha1", "sha256", "pdq")
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
SUCCESS = "success"
BATCH_ROWS = 65_536


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


@dataclass
class Row:
    shard: str
    row: int
    key: str
    url: str
    md5: str | None
    sha1: str | None
    sha256: str | None
    pdq: str | None


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


def iter_rows(shard: ShardFiles, columns: ColumnMap) -> Iterator[tuple[int, Row | None]]:
    """(row number, sample) for each row of a shard; None for rows that are not samples.

    Rows are numbered from 0 as in the file. A value that cannot be a valid
    identifier stops the import with the file, row and column named.
    """
    wanted = [c for c in {columns.get(f) for f in ("key", "url", "status", *HASH_FIELDS)} if c]
    try:
        reader = pq.ParquetFile(shard.parquet).iter_batches(batch_size=BATCH_ROWS, columns=wanted)
        offset = 0
        for batch in reader:
            data = {name: batch.column(name).to_pylist() for name in wanted}
            for i in range(batch.num_rows):
                number = offset + i
                yield number, _row(shard, number, data, columns, i)
            offset += batch.num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise TakedownError(f"{shard.parquet.name}: cannot read rows ({exc})") from None


def _row(shard: ShardFiles, number: int, data: dict, columns: ColumnMap, i: int) -> Row | None:
    status_col = columns.get("status")
    if status_col and data[status_col][i] != SUCCESS:
        return None
    key_col = columns.get("key")
    if key_col:
        raw_key = data[key_col][i]
        if raw_key is None or str(raw_key).strip() == "":
            raise TakedownError(f"{shard.parquet.name} row {number}: column {key_col!r} is empty")
        key = str(raw_key).strip()
    else:
        # Plain metadata parquet has no key: the row's place in its file names it.
        key = f"{shard.name}:{number}"
    url = data[columns.get("url")][i]
    hashes = {}
    for kind in HASH_FIELDS:
        col = columns.get(kind)
        if not col:
            hashes[kind] = None
            continue
        try:
            hashes[kind] = identifiers.normalise_hex_or_none(kind, data[col][i])
        except identifiers.InvalidIdentifier as exc:
            raise TakedownError(f"{shard.parquet.name} row {number}, column {col!r}: {exc}") from None
    return Row(shard=shard.name, row=number, key=key, url="" if url is None else str(url), **hashes)


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


def tar_pdq(tar_path: Path, sizes: dict[str, tuple[int, int]] | None = None
            ) -> tuple[dict[str, tuple[str, int]], list[str]]:
    """PDQ hash and quality of every image in a webdataset tar, by key; and the problems met.

    `sizes` gives each key's original (width, height), to see through img2dataset's padding.
    """
    sizes = sizes or {}
    hashes: dict[str, tuple[str, int]] = {}
    problems: list[str] = []
    try:
        with tarfile.open(tar_path, "r:*") as archive:
            for member in archive:
                if not member.isfile():
                    continue
                key, ext = member_key(member.name)
                if ext not in IMAGE_EXTENSIONS:
                    continue
                handle = archive.extractfile(member)
                try:
                    hashes[key] = pdq.hash_image(unpad(pdq.decode(handle.read()), sizes.get(key)))
                except ValueError as exc:
                    problems.append(f"{tar_path.name}:{member.name}: {exc}")
    except (tarfile.TarError, OSError) as exc:
        raise TakedownError(f"{tar_path.name}: not a readable tar file ({exc})") from None
    return hashes, problems


def _shard_pdq(job: tuple[Path, Path, str | None]):
    tar, parquet, key_column = job
    return tar_pdq(tar, original_sizes(parquet, key_column))


def tars_pdq(shards: list[ShardFiles], columns: ColumnMap
             ) -> Iterator[tuple[ShardFiles, dict[str, tuple[str, int]], list[str]]]:
    """tar_pdq over the shards that have tars, one process per core when the caller may start processes."""
    with_tars = [s for s in shards if s.tar]
    jobs = [(s.tar, s.parquet, columns.get("key")) for s in with_tars]
    workers = min(len(jobs), os.cpu_count() or 1)
    if workers <= 1 or multiprocessing.current_process().daemon:
        for shard, job in zip(with_tars, jobs, strict=False):
            yield shard, *_shard_pdq(job)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for shard, (hashes, problems) in zip(with_tars, pool.map(_shard_pdq, jobs), strict=False):
            yield shard, hashes, problems
