"""The per-release index: answers batches of identifiers without reading the shards.

Layout under INDEX_DIR/<dataset>/<release>/:

    parts/<shard>.arrow      one Arrow IPC file per shard (written by ingest): every sample's
                             source row, key, normalised URL, digests, PDQ, and fingerprints
    parts/<shard>.json       written last: the part is complete (the unit of resumable ingest);
                             it lists the distinct URL hosts of the shard
    seg-NNNN/                built from consecutive parts by finalize (a few million rows each):
        meta.json            parts and their row offsets, counts, the fingerprint function
        hosts.arrow          the distinct hosts, for domain opt-outs (a host and its subdomains)
        <kind>_offsets.npy   bucket table per exact kind (url, key, md5, sha1, sha256, host):
        <kind>_fps.npy       fingerprints bucketed by their top bits, and the segment rows
        <kind>_rows.npy      they belong to
        pdq_rows.npy, mih_*  the PDQ multi-index (apps.index.mih)
    index.json               the segments; written last, it makes the index visible

Everything is .npy or Arrow IPC, opened memory-mapped: an index opens in
milliseconds and costs memory only for the pages a lookup touches.
"""
import functools
import json
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from apps.core.errors import TakedownError
from apps.core.files import write_atomic
from apps.index import fingerprints, mih

FORMAT = 2
EXACT_KINDS = ("url", "key", "md5", "sha1", "sha256", "host")
# Digest columns whose fingerprints go into each exact kind's table.
DIGEST_SOURCES = {"md5": ("md5", "img_md5"), "sha1": ("sha1",), "sha256": ("sha256", "img_sha256")}
DIGEST_WIDTHS = {"md5": 16, "sha1": 20, "sha256": 32, "img_md5": 16, "img_sha256": 32, "pdq": 32}
_BASE_FIELDS = [
    ("row", pa.uint32()),
    ("key", pa.string()),
    ("url", pa.string()),
    ("url_fp", pa.uint64()),
    ("key_fp", pa.uint64()),
    ("host_fp", pa.uint64()),
]


def part_schema(digests: list[str]) -> pa.Schema:
    """The schema of a part carrying these digest columns: a release without md5 has no md5 column
    (an all-null fixed-width column would still take its full width on disk)."""
    fields = [*_BASE_FIELDS, *[(name, pa.binary(DIGEST_WIDTHS[name])) for name in DIGEST_WIDTHS if name in digests]]
    if "pdq" in digests:
        fields.append(("pdq_quality", pa.uint8()))
    return pa.schema(fields)


_ROWS_PER_BUCKET = 64


# ---------------------------------------------------------------- parts


def part_done(parts: Path, shard: str, source_sha256: str) -> dict | None:
    """The metadata of a complete part built from this exact source file, else None."""
    try:
        meta = json.loads((parts / f"{shard}.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return meta if meta.get("source_sha256") == source_sha256 and meta.get("format") == FORMAT else None


class PartWriter:
    """Writes one shard's part: record batches, then the completion marker."""

    def __init__(self, parts: Path, shard: str, schema: pa.Schema):
        parts.mkdir(parents=True, exist_ok=True)
        self.parts, self.shard = parts, shard
        self.arrow_tmp = parts / f".{shard}.{uuid.uuid4().hex[:8]}.arrow.tmp"
        self.sink = pa.OSFile(str(self.arrow_tmp), "wb")
        self.writer = pa.ipc.new_file(self.sink, schema)
        self.hosts: set[str] = set()
        self.rows = 0
        # Entries of each kind, so a segment build knows where every part's entries go.
        self.entries = dict.fromkeys((*EXACT_KINDS, "pdq"), 0)

    def write(self, batch: pa.RecordBatch, hosts: list[str]) -> None:
        self.hosts.update(hosts)
        for kind in ("url", "key", "host"):
            self.entries[kind] += int(np.count_nonzero(batch.column(f"{kind}_fp").to_numpy()))
        for kind, columns in (*DIGEST_SOURCES.items(), ("pdq", ("pdq",))):
            present = [c for c in columns if c in batch.schema.names]
            self.entries[kind] += sum(len(batch) - batch.column(c).null_count for c in present)
        self.writer.write_batch(batch)
        self.rows += batch.num_rows

    def finish(self, meta: dict) -> dict:
        self.writer.close()
        self.sink.close()
        os.replace(self.arrow_tmp, self.parts / f"{self.shard}.arrow")
        meta = {**meta, "format": FORMAT, "samples": self.rows, "entries": self.entries,
                "hosts": sorted(self.hosts)}
        write_atomic(self.parts / f"{self.shard}.json", json.dumps(meta).encode())
        return meta

    def abort(self) -> None:
        self.writer.close()
        self.sink.close()
        self.arrow_tmp.unlink(missing_ok=True)


def _open_part(path: Path) -> pa.Table:
    """A part, memory-mapped: only the columns used are read."""
    return pa.ipc.open_file(pa.memory_map(str(path))).read_all()


# ---------------------------------------------------------------- segments


def _bucket_table(folder: Path, kind: str, fps: np.ndarray, rows: np.ndarray) -> None:
    from apps.index import kernels

    bits = int(np.clip(np.ceil(np.log2(max(len(fps), 1) / _ROWS_PER_BUCKET)), 4, 24))
    offsets, fps_out, rows_out = kernels.bucket_scatter(fps, rows, np.uint64(64 - bits), 1 << bits)
    np.save(folder / f"{kind}_offsets.npy", offsets)
    np.save(folder / f"{kind}_fps.npy", fps_out)
    np.save(folder / f"{kind}_rows.npy", rows_out)


def _column_codes(table: pa.Table, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(codes, local rows) of the non-null values of a fixed-width binary part column (none if absent)."""
    if column not in table.schema.names:
        return np.zeros((0, DIGEST_WIDTHS[column]), np.uint8), np.zeros(0, np.uint32)
    array = table.column(column).combine_chunks()
    valid = np.asarray(array.is_valid())
    rows = np.nonzero(valid)[0].astype(np.uint32)
    if not len(rows):
        return np.zeros((0, DIGEST_WIDTHS[column]), np.uint8), rows
    width = DIGEST_WIDTHS[column]
    data = np.frombuffer(array.buffers()[1], dtype=np.uint8, count=(array.offset + len(array)) * width)
    return data[array.offset * width:].reshape(-1, width)[rows], rows


def _kind_entries(kind: str, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(fingerprints, local rows) of one exact kind in one part."""
    if kind in ("url", "key", "host"):
        fps = table.column(f"{kind}_fp").to_numpy()
        rows = np.nonzero(fps)[0].astype(np.uint32)  # 0: no value (a row without a URL)
        return fps[rows], rows
    found = [_column_codes(table, column) for column in DIGEST_SOURCES[kind]]
    return (np.concatenate([fingerprints.digest_column(codes) for codes, _ in found]),
            np.concatenate([rows for _, rows in found]))


def _gather(paths: list[Path], metas: list[dict], kinds: tuple[str, ...]) -> dict[str, tuple]:
    """Every part's entries of `kinds`, with segment rows, read by two threads into preallocated arrays.

    Each part's entry counts (in its metadata) give it its own region, so the
    threads never meet and the arrays come out packed.
    """
    starts = np.cumsum([0, *(m["samples"] for m in metas)])
    firsts = {kind: np.cumsum([0, *(m["entries"][kind] for m in metas)]) for kind in kinds}
    values = {kind: np.empty((int(firsts[kind][-1]), 4) if kind == "pdq" else int(firsts[kind][-1]), np.uint64)
              for kind in kinds}
    rows = {kind: np.empty(int(firsts[kind][-1]), np.uint32) for kind in kinds}

    def one(part: int) -> None:
        table = _open_part(paths[part])
        for kind in kinds:
            found, at = _pdq_entries(table) if kind == "pdq" else _kind_entries(kind, table)
            first, last = int(firsts[kind][part]), int(firsts[kind][part + 1])
            if last - first != len(at):
                raise TakedownError(f"{paths[part]}: holds {len(at)} {kind} entries, its metadata says "
                                    f"{last - first}; index the shard again")
            values[kind][first:last] = found
            rows[kind][first:last] = at + np.uint32(starts[part])

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(one, range(len(paths))))
    return {kind: (values.pop(kind), rows.pop(kind)) for kind in kinds}


def _release_freed_memory() -> None:
    try:
        pa.jemalloc_set_decay_ms(0)
    except NotImplementedError:  # an Arrow built without jemalloc uses the system allocator
        pass


def _pdq_entries(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    codes, rows = _column_codes(table, "pdq")
    return mih.words(codes), rows


def build_segment(root: Path, name: str, parts: list[str]) -> dict:
    """Build one segment from complete parts (in order) into root/name, atomically.

    Arrow's allocator is told to give freed memory back at once: otherwise the
    thousands of parts read here stay resident long after they are dropped.
    Memory holds a few kinds' fingerprints at a time (12 bytes an entry, 36 for
    a PDQ hash): about 60 bytes a row at the peak.
    """
    _release_freed_memory()
    folder = root / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
    folder.mkdir(parents=True)
    try:
        paths = [root / "parts" / f"{part}.arrow" for part in parts]
        metas = [_part_meta(root, part) for part in parts]
        starts = np.cumsum([0, *(m["samples"] for m in metas)])
        counts = {}
        for group in (("url", "key", "host"), ("md5", "sha1", "sha256", "pdq")):
            gathered = _gather(paths, metas, group)
            with ThreadPoolExecutor(2) as pool:  # the sorts and writes release the GIL
                jobs = []
                for kind in group:
                    values, rows = gathered.pop(kind)
                    counts[kind] = len(rows)
                    if len(rows) and kind == "pdq":
                        np.save(folder / "pdq_rows.npy", rows)
                        mih.build(values, folder)
                    elif len(rows):
                        jobs.append(pool.submit(_bucket_table, folder, kind, values, rows))
                    del values, rows
                for job in jobs:
                    job.result()
        hosts = sorted({host for meta in metas for host in meta["hosts"]})
        _write_hosts(folder / "hosts.arrow", hosts)
        meta = {
            "format": FORMAT, "parts": parts, "starts": starts.tolist(), "rows": int(starts[-1]),
            "counts": counts, "hosts": len(hosts), "fingerprint": fingerprints.NAME,
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


def _part_meta(root: Path, part: str) -> dict:
    return json.loads((root / "parts" / f"{part}.json").read_text())


def _write_hosts(path: Path, hosts: list[str]) -> None:
    table = pa.table({"host": pa.array(hosts, pa.string()), "fp": pa.array(fingerprints.strings(hosts))})
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def segment_parts(root: Path, name: str) -> list[str] | None:
    """The parts a finished segment was built from, or None when there is no finished segment."""
    try:
        meta = json.loads((root / name / "meta.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return meta["parts"] if meta.get("format") == FORMAT and meta.get("fingerprint") == fingerprints.NAME else None


def remove_leftovers(root: Path) -> None:
    """Temporary files of part and segment builds that were killed half-way."""
    for leftover in [*root.glob(".*.tmp"), *(root / "parts").glob(".*.tmp")]:
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


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
        if self.meta.get("fingerprint") != fingerprints.NAME:
            raise TakedownError(f"{self.folder}: built with another fingerprint function; import the release again")
        self.parts_dir = root / "parts"
        self.starts = np.asarray(self.meta["starts"], dtype=np.int64)
        self._tables: dict[str, tuple] = {}
        self._parts: dict[int, pa.Table] = {}
        self._mih = None
        self._hosts = None

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
        fps = np.asarray(fps, dtype=np.uint64)
        # A handful of identifiers against buckets of about 64: numpy over the touched buckets is enough.
        buckets = (fps >> shift).astype(np.int64)
        lo = np.asarray(offsets[buckets], dtype=np.int64)
        counts = np.asarray(offsets[buckets + 1], dtype=np.int64) - lo
        owner = np.repeat(np.arange(len(fps)), counts)
        positions = np.repeat(lo, counts) + np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
        hit = np.asarray(stored[positions]) == fps[owner]
        row = np.asarray(rows[positions[hit]], dtype=np.int64)
        return Found(owner[hit], row, np.zeros(len(row), np.int64))

    def domain_hosts(self, domains: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(domain index, host fingerprint) of every distinct host that is a domain or one of its subdomains."""
        if self._hosts is None:
            self._hosts = _open_part(self.folder / "hosts.arrow")
        names, fps = self._hosts.column("host"), self._hosts.column("fp").to_numpy()
        found_domain, found_fp = [], []
        for number, domain in enumerate(domains):
            mask = np.asarray(pc.or_(pc.equal(names, domain), pc.ends_with(names, "." + domain)))
            found_fp.append(fps[mask])
            found_domain.append(np.full(int(mask.sum()), number))
        if not found_fp:
            return np.zeros(0, np.int64), np.zeros(0, np.uint64)
        return np.concatenate(found_domain), np.concatenate(found_fp)

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
            present = [name for name in columns if name in table.schema.names]
            taken = table.select(present).take(local)
            for name in present:  # an absent column reads as null
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
    """A release's index, cached per process until its index.json changes.

    With an object store configured (INDEX_STORAGE_URL), an index this machine
    lacks is pulled from it first: it may have been built on another machine.
    """
    try:
        stamp = (root / "index.json").stat().st_mtime_ns
    except FileNotFoundError:
        from apps.index import storage  # imported here: it needs Django settings, this module does not

        if not storage.pull_index(root):
            raise TakedownError(f"{root}: no index (import the release first)") from None
        stamp = (root / "index.json").stat().st_mtime_ns
    return _cached(str(root), stamp)
