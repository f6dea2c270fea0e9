"""The per-release index: answers batches of identifiers without reading the shards.

Layout under INDEX_DIR/<dataset>/<release>/:

    parts/<shard>.arrow      one Arrow IPC file per shard (written by ingest): every sample's
                             source row, key, normalised URL, digests, PDQ, and fingerprints
    parts/<shard>.hosts.npy  (fingerprint, row) of every host suffix of every sample's URL
    parts/<shard>.json       written last: the part is complete (the unit of resumable ingest)
    seg-NNNN/                built from consecutive parts by finalize (a few million rows each):
        meta.json            parts and their row offsets, counts, the fingerprint canary
        <kind>_offsets.npy   bucket table per exact kind (url, key, md5, sha1, sha256, host):
        <kind>_fps.npy       fingerprints bucketed by their top bits, and the segment rows
        <kind>_rows.npy      they belong to
        pdq_rows.npy, mih_*  the PDQ multi-index (apps.matching.mih)
    index.json               the segments; written last, it makes the index visible

Everything is .npy or Arrow IPC, opened memory-mapped: an index opens in
milliseconds and costs memory only for the pages a lookup touches.
"""
import functools
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from apps.core.errors import TakedownError
from apps.matching import fingerprints, kernels, mih

FORMAT = 1
EXACT_KINDS = ("url", "key", "md5", "sha1", "sha256", "host")
# Digest columns whose fingerprints go into each exact kind's table.
DIGEST_SOURCES = {"md5": ("md5", "img_md5"), "sha1": ("sha1",), "sha256": ("sha256", "img_sha256")}
DIGEST_WIDTHS = {"md5": 16, "sha1": 20, "sha256": 32, "img_md5": 16, "img_sha256": 32, "pdq": 32}
PART_SCHEMA = pa.schema([
    ("row", pa.uint32()),
    ("key", pa.string()),
    ("url", pa.string()),
    ("url_fp", pa.uint64()),
    ("key_fp", pa.uint64()),
    *[(name, pa.binary(width)) for name, width in DIGEST_WIDTHS.items()],
    ("pdq_quality", pa.uint8()),
])
HOST_DTYPE = np.dtype([("fp", "<u8"), ("row", "<u4")])
_ROWS_PER_BUCKET = 64


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------- parts


def part_done(parts: Path, shard: str, source_sha256: str) -> dict | None:
    """The metadata of a complete part built from this exact source file, else None."""
    try:
        meta = json.loads((parts / f"{shard}.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return meta if meta.get("source_sha256") == source_sha256 and meta.get("format") == FORMAT else None


class PartWriter:
    """Writes one shard's part: record batches, then host entries, then the completion marker."""

    def __init__(self, parts: Path, shard: str):
        parts.mkdir(parents=True, exist_ok=True)
        self.parts, self.shard = parts, shard
        self.arrow_tmp = parts / f".{shard}.{uuid.uuid4().hex[:8]}.arrow.tmp"
        self.sink = pa.OSFile(str(self.arrow_tmp), "wb")
        self.writer = pa.ipc.new_file(self.sink, PART_SCHEMA)
        self.hosts: list[np.ndarray] = []
        self.rows = 0

    def write(self, batch: pa.RecordBatch, hosts: np.ndarray) -> None:
        hosts = hosts.copy()
        hosts["row"] += self.rows
        self.hosts.append(hosts)
        self.writer.write_batch(batch)
        self.rows += batch.num_rows

    def finish(self, meta: dict) -> dict:
        self.writer.close()
        self.sink.close()
        os.replace(self.arrow_tmp, self.parts / f"{self.shard}.arrow")
        hosts = np.concatenate(self.hosts) if self.hosts else np.zeros(0, HOST_DTYPE)
        np.save(self.parts / f"{self.shard}.hosts.npy", hosts)
        meta = {**meta, "format": FORMAT, "samples": self.rows}
        write_atomic(self.parts / f"{self.shard}.json", json.dumps(meta).encode())
        return meta

    def abort(self) -> None:
        self.writer.close()
        self.sink.close()
        self.arrow_tmp.unlink(missing_ok=True)


def _open_part(path: Path) -> pa.Table:
    return pa.ipc.open_file(pa.memory_map(str(path))).read_all()


# ---------------------------------------------------------------- segments


def _bucket_table(folder: Path, kind: str, fps: np.ndarray, rows: np.ndarray) -> None:
    bits = int(np.clip(np.ceil(np.log2(max(len(fps), 1) / _ROWS_PER_BUCKET)), 4, 24))
    offsets, order = kernels.counting_order(fps >> np.uint64(64 - bits), 1 << bits)
    np.save(folder / f"{kind}_offsets.npy", offsets)
    np.save(folder / f"{kind}_fps.npy", fps[order])
    np.save(folder / f"{kind}_rows.npy", rows[order].astype(np.uint32))


def _digest_fps(table: pa.Table, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(fingerprints, local rows) of the non-null digests of one part column."""
    array = table.column(column).combine_chunks()
    valid = np.asarray(array.is_valid())
    if not valid.any():
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    width = DIGEST_WIDTHS[column]
    data = np.frombuffer(array.buffers()[1], dtype=np.uint8, count=(array.offset + len(array)) * width)
    codes = data[array.offset * width:].reshape(-1, width)
    rows = np.nonzero(valid)[0]
    return fingerprints.digest_column(codes[rows]), rows


def build_segment(root: Path, name: str, parts: list[str], problems: list[str] | None = None) -> dict:
    """Build one segment from complete parts (in order) into root/name, atomically."""
    folder = root / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
    folder.mkdir(parents=True)
    try:
        tables = [_open_part(root / "parts" / f"{part}.arrow") for part in parts]
        sizes = [t.num_rows for t in tables]
        starts = np.cumsum([0, *sizes])
        entries: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {kind: [] for kind in EXACT_KINDS}
        pdq_codes, pdq_rows = [], []
        for part, table, start in zip(parts, tables, starts):
            base = np.int64(start)
            for kind in ("url", "key"):
                fps = table.column(f"{kind}_fp").to_numpy()
                keep = fps != 0  # 0: no value (a row without a URL)
                entries[kind].append((fps[keep], np.nonzero(keep)[0] + base))
            for kind, sources in DIGEST_SOURCES.items():
                for source in sources:
                    fps, rows = _digest_fps(table, source)
                    entries[kind].append((fps, rows + base))
            hosts = np.load(root / "parts" / f"{part}.hosts.npy")
            entries["host"].append((hosts["fp"].astype(np.uint64), hosts["row"].astype(np.int64) + base))
            pdq = table.column("pdq").combine_chunks()
            valid = np.nonzero(np.asarray(pdq.is_valid()))[0]
            if len(valid):
                data = np.frombuffer(pdq.buffers()[1], dtype=np.uint8, count=(pdq.offset + len(pdq)) * 32)
                pdq_codes.append(data[pdq.offset * 32:].reshape(-1, 32)[valid])
                pdq_rows.append(valid + base)
        counts = {}
        for kind, chunks in entries.items():
            fps = np.concatenate([c[0] for c in chunks]) if chunks else np.zeros(0, np.uint64)
            rows = np.concatenate([c[1] for c in chunks]) if chunks else np.zeros(0, np.int64)
            counts[kind] = len(fps)
            if len(fps):
                _bucket_table(folder, kind, fps.astype(np.uint64), rows)
            entries[kind] = []  # free as we go: memory stays bounded by the largest kind
        counts["pdq"] = sum(len(r) for r in pdq_rows)
        if pdq_rows:
            np.save(folder / "pdq_rows.npy", np.concatenate(pdq_rows).astype(np.uint32))
            mih.build(np.concatenate(pdq_codes), folder)
        meta = {
            "format": FORMAT, "parts": parts, "starts": starts.tolist(), "rows": int(starts[-1]),
            "counts": counts, "canary": fingerprints.canary(), "problems": problems or [],
        }
        (folder / "meta.json").write_text(json.dumps(meta))
        final = root / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(folder, final)
        return meta
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def publish(root: Path, segments: list[str], meta: dict) -> None:
    """Make the built segments the index of the release (index.json is the commit point)."""
    write_atomic(root / "index.json", json.dumps({"format": FORMAT, "segments": segments, **meta}).encode())


# ---------------------------------------------------------------- reading


@dataclass
class Found:
    """Hits in one segment: the query each belongs to, the segment row, and the distance."""

    query: np.ndarray
    row: np.ndarray
    distance: np.ndarray


class Segment:
    def __init__(self, root: Path, name: str):
        self.folder = root / name
        self.meta = json.loads((self.folder / "meta.json").read_text())
        if self.meta.get("format") != FORMAT:
            raise TakedownError(f"{self.folder}: index format {self.meta.get('format')} is not {FORMAT}; rebuild it")
        if self.meta["canary"] != fingerprints.canary():
            raise TakedownError(
                f"{self.folder}: built with another fingerprint function (DuckDB version?); "
                "rebuild it with manage.py rebuild_index"
            )
        self.parts_dir = root / "parts"
        self.starts = np.asarray(self.meta["starts"], dtype=np.int64)
        self._tables: dict[str, tuple] = {}
        self._parts: dict[int, pa.Table] = {}
        self._mih = None

    def _table(self, kind: str):
        if kind not in self._tables:
            if not (self.folder / f"{kind}_offsets.npy").exists():
                self._tables[kind] = None
            else:
                offsets = np.load(self.folder / f"{kind}_offsets.npy", mmap_mode="r")
                self._tables[kind] = (
                    offsets,
                    np.load(self.folder / f"{kind}_fps.npy", mmap_mode="r"),
                    np.load(self.folder / f"{kind}_rows.npy", mmap_mode="r"),
                    np.uint64(64 - int(np.log2(len(offsets) - 1))),
                )
        return self._tables[kind]

    def exact(self, kind: str, fps: np.ndarray) -> Found:
        """Rows whose `kind` fingerprint equals one of `fps` (candidates: the caller verifies values)."""
        table = self._table(kind)
        if table is None or not len(fps):
            empty = np.zeros(0, np.int64)
            return Found(empty, empty, empty)
        offsets, stored, rows, shift = table
        query, row = kernels.exact_lookup(offsets, stored, rows, shift, np.asarray(fps, dtype=np.uint64))
        return Found(query, row, np.zeros(len(row), np.int64))

    def pdq(self, codes: np.ndarray, radius: int) -> Found:
        """Rows whose PDQ hash is within `radius` of one of `codes` ((m, 32) uint8)."""
        if not self.meta["counts"].get("pdq") or not len(codes):
            empty = np.zeros(0, np.int64)
            return Found(empty, empty, empty)
        if self._mih is None:
            self._mih = (mih.MultiIndex(self.folder), np.load(self.folder / "pdq_rows.npy", mmap_mode="r"))
        index, rows = self._mih
        query, item, distance = index.search(codes, radius)
        return Found(query, np.asarray(rows[item], dtype=np.int64), distance)

    def rows(self, rows: np.ndarray, columns: list[str]) -> dict[str, list]:
        """Column values of segment rows, plus 'shard' (the part name), in the order given."""
        rows = np.asarray(rows, dtype=np.int64)
        part_of = np.searchsorted(self.starts, rows, side="right") - 1
        out: dict[str, list] = {name: [None] * len(rows) for name in (*columns, "shard")}
        for part in np.unique(part_of):
            positions = np.nonzero(part_of == part)[0]
            table = self._part(int(part))
            local = pa.array(rows[positions] - self.starts[part])
            taken = table.select(columns).take(local)
            for name in columns:
                values = taken.column(name).to_pylist()
                for i, value in zip(positions, values):
                    out[name][i] = value
            for i in positions:
                out["shard"][i] = self.meta["parts"][part]
        return out

    def _part(self, part: int) -> pa.Table:
        if part not in self._parts:
            self._parts[part] = _open_part(self.parts_dir / f"{self.meta['parts'][part]}.arrow")
        return self._parts[part]


class ReleaseIndex:
    """All segments of one release's index."""

    def __init__(self, root: Path):
        try:
            self.meta = json.loads((root / "index.json").read_text())
        except FileNotFoundError:
            raise TakedownError(f"{root}: no index (import the release first)") from None
        self.root = root
        self.segments = [Segment(root, name) for name in self.meta["segments"]]

    @property
    def rows(self) -> int:
        return sum(s.meta["rows"] for s in self.segments)


@functools.lru_cache(maxsize=64)
def _cached(root: str, stamp: float) -> ReleaseIndex:
    return ReleaseIndex(Path(root))


def open_index(root: Path) -> ReleaseIndex:
    """A release's index, cached per process until its index.json changes."""
    try:
        stamp = (root / "index.json").stat().st_mtime_ns
    except FileNotFoundError:
        raise TakedownError(f"{root}: no index (import the release first)") from None
    return _cached(str(root), stamp)
