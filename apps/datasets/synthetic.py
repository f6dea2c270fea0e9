"""Synthetic dataset releases for the demo, the tests and the benchmarks.

Everything here is generated: the pictures are abstract colour fields and
shapes drawn from a seed, never anyone's photograph, and the URLs point at
example domains. The files follow img2dataset v1.47's output layout
(parquet columns and types, 100-row row groups, webdataset tars with PAX
mtimes, per-shard stats), so an importer that reads these reads real
releases too.

This is a plain module (no Django) so benchmarks and scripts can use it.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import multiprocessing
import os
import tarfile
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageDraw

from apps.core import identifiers, pdq

PDQ_MATCH_DISTANCE = 31  # Meta's confident-match threshold; the PDQ_MATCH_THRESHOLD setting's default
SUCCESS = "success"
FAILED_TO_DOWNLOAD = "failed_to_download"
FAILED_TO_RESIZE = "failed_to_resize"

# img2dataset's defaults: encode_quality=95, a flush every 100 rows (one row group each),
# webdataset's tar member owner and mode.
_MEMBER_QUALITY = 95
_ROW_GROUP_ROWS = 100
_TAR_OWNER = "bigdata"
_TAR_MODE = 0o444
# Below this many pictures per core, starting processes costs more than it saves.
_PICTURES_PER_WORKER = 100
_RENDER = 64  # side of the grid a picture's colour field is computed on, then scaled up
# Each kind of draw has its own random stream per seed (the numbers spell their names in
# ASCII), so drawing more of one never shifts another: a new caption cannot change a picture.
_PLAN, _IMAGE, _TIMES, _REMOVALS, _PLAIN = 0x504C414E, 0x494D47, 0x54494D45, 0x52454D, 0x4C41494F4E

_DOWNLOAD_ERRORS = (
    "HTTP Error 404: Not Found",
    "HTTP Error 403: Forbidden",
    "HTTP Error 410: Gone",
    "<urlopen error [Errno -2] Name or service not known>",
    "The read operation timed out",
)
_RESIZE_ERRORS = ("Image decoding error", "image too small")
_EXIF_TAGS = {"Image Make": 0x010F, "Image Model": 0x0110, "Image DateTime": 0x0132}
# (longer side, JPEG quality) of the copies whose PDQ make_removals sends.
_PDQ_COPIES = ((None, 70), (320, 70), (None, 40), (200, 60), (480, 85))

_STYLES = (
    "Watercolour painting of", "Stock photo of", "Minimalist poster with", "Close-up of",
    "Vintage postcard showing", "Product shot of", "Abstract illustration of", "Oil painting of",
)
_SUBJECTS = (
    "a red bicycle", "a lighthouse", "a bowl of lemons", "an old map", "a mountain lake",
    "a paper boat", "a cactus in a clay pot", "a vintage typewriter", "a city skyline",
    "a wooden bridge", "autumn leaves", "a teapot", "a sailing ship", "a field of tulips",
)
_SUFFIXES = ("", " at sunset", " on a white background", " in the rain", " | 4k wallpaper", " - free download")

# Written forms of a URL that normalise back to the canonical one (see apps.core.identifiers).
_RESIZE_MODES = ("border", "center_crop")
_URL_VARIANTS = ("upper_host", "default_port", "percent_unreserved", "percent_lowercase", "query")


@dataclass(frozen=True)
class SyntheticSample:
    """One parquet row of a synthetic release, with everything a test may need to know about it.

    `url` is the URL as written in the parquet; `canonical_url` is its normalised form.
    Hashes and PDQ describe the original download (what a hotline holds); `member_pdq`
    is the PDQ of the picture in the re-encoded tar member (inside img2dataset's
    padding). Failed rows have no image, hashes or PDQ.
    """

    key: str
    shard: str
    row: int
    url: str
    canonical_url: str
    caption: str
    status: str
    error_message: str | None = None
    original_width: int | None = None
    original_height: int | None = None
    original_format: str | None = None
    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    pdq: str | None = None
    pdq_quality: int | None = None
    member_pdq: str | None = None
    member_quality: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == SUCCESS


@dataclass
class SyntheticRelease:
    """What write_release wrote: every row, and the original image bytes of the successful ones."""

    path: Path
    shard_names: list[str]
    samples: list[SyntheticSample] = field(repr=False)
    originals: dict[str, bytes] = field(repr=False)
    hash_columns: tuple[str, ...]
    with_tars: bool
    with_pdq_column: bool
    image_size: int
    samples_per_shard: int
    oom_shard_count: int
    columns: dict[str, str]
    _by_key: dict[str, SyntheticSample] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_key = {sample.key: sample for sample in self.samples}

    def successful(self) -> list[SyntheticSample]:
        """The rows with an image (status success), in key order."""
        return [sample for sample in self.samples if sample.ok]

    def by_key(self, key: str) -> SyntheticSample:
        """The row with this key; KeyError if there is none."""
        return self._by_key[key]

    def duplicates(self) -> dict[str, list[tuple[str, ...]]]:
        """Keys that share an image ("image": same original bytes) or a URL ("url": same canonical URL)."""
        by_image: dict[str, list[str]] = {}
        by_url: dict[str, list[str]] = {}
        for sample in self.samples:
            if sample.sha256:
                by_image.setdefault(sample.sha256, []).append(sample.key)
            by_url.setdefault(sample.canonical_url, []).append(sample.key)
        return {
            "image": [tuple(keys) for keys in by_image.values() if len(keys) > 1],
            "url": [tuple(keys) for keys in by_url.values() if len(keys) > 1],
        }

    def parquet_path(self, shard: str) -> Path:
        return self.path / f"{shard}.parquet"

    def tar_path(self, shard: str) -> Path | None:
        return self.path / f"{shard}.tar" if self.with_tars else None


@dataclass(frozen=True)
class ExpectedRemoval:
    """A removal identifier and the keys of the successful samples it must hit (empty: matches nothing)."""

    kind: str
    value: str
    keys: frozenset[str]


@dataclass(frozen=True)
class PlainRow:
    """One row of a plain metadata parquet: its file, its place in the file, and its values by column."""

    file: str
    row: int
    values: dict


@dataclass(frozen=True)
class _Picture:
    original: bytes
    fmt: str
    width: int
    height: int
    exif: str
    member: bytes
    pdq: str
    quality: int
    member_pdq: str
    member_quality: int


@dataclass
class _PlannedRow:
    shard_id: int
    row: int
    key: str
    url: str
    canonical_url: str
    caption: str
    status: str = SUCCESS
    error_message: str | None = None
    image_id: int | None = None


def shard_name(shard_id: int, oom_shard_count: int = 5) -> str:
    """img2dataset's shard file stem: the shard id zero-padded to oom_shard_count digits."""
    return f"{shard_id:0{oom_shard_count}d}"


def sample_key(shard_id: int, index: int, *, samples_per_shard: int, oom_shard_count: int = 5) -> str:
    """img2dataset's key of row `index` of shard `shard_id`.

    10**ceil(log10(samples_per_shard)) * shard_id + index, zero-padded to
    oom_shard_count + ceil(log10(samples_per_shard)) digits: 10,000 per shard
    and 5-digit shard ids give 9 digits.
    """
    oom_sample_per_shard = math.ceil(math.log10(samples_per_shard))
    return f"{10**oom_sample_per_shard * shard_id + index:0{oom_shard_count + oom_sample_per_shard}d}"


def write_release(
    out_dir,
    *,
    shards: int = 3,
    samples_per_shard: int = 20,
    seed: int = 0,
    hash_columns: Iterable[str] | str = ("sha256",),
    dead_fraction: float = 0.1,
    duplicate_urls: int = 1,
    duplicate_images: int = 1,
    with_tars: bool = True,
    with_pdq_column: bool = False,
    oom_shard_count: int = 5,
    image_size: int = 256,
    url_column: str = "url",
    caption_column: str = "caption",
    key_column: str = "key",
    last_shard_samples: int | None = None,
    resize_mode: str = "border",
) -> SyntheticRelease:
    """Write a synthetic img2dataset release into out_dir and describe every row of it.

    Per shard: `<id>.parquet` (every row), `<id>.tar` (successful samples:
    `<key>.jpg`, `<key>.json`, `<key>.txt`, in webdataset's order) unless
    with_tars is false, and `<id>_stats.json`. About dead_fraction of the rows
    failed (null image fields and hashes, no tar member). The hash columns are
    digests of the original download, as img2dataset computes them; the tar
    member is that image re-encoded at image_size x image_size, as img2dataset's
    resize_mode does it: "border" (its default: the whole picture scaled into
    the square and padded with white, so originals may have any aspect ratio)
    or "center_crop" (near-square originals, as PDQ does not survive crops).
    `duplicate_images` samples repeat an earlier sample's exact original under
    another URL, in another shard when there is one; `duplicate_urls` samples
    repeat an earlier sample's URL with a different image (a re-crawl).
    `last_shard_samples` makes the last shard partial, as img2dataset's usually is.

    The same arguments write byte-identical files.
    """
    hash_columns = (hash_columns,) if isinstance(hash_columns, str) else tuple(hash_columns)
    unknown = [name for name in hash_columns if name not in identifiers.HASH_KINDS]
    if unknown:
        raise ValueError(f"unknown hash columns {unknown} (expected some of {', '.join(identifiers.HASH_KINDS)})")
    if shards < 1 or samples_per_shard < 1:
        raise ValueError("shards and samples_per_shard must be at least 1")
    if last_shard_samples is not None and not 1 <= last_shard_samples <= samples_per_shard:
        raise ValueError("last_shard_samples must be between 1 and samples_per_shard")
    if not 0 <= dead_fraction < 1:
        raise ValueError("dead_fraction must be in [0, 1)")
    if resize_mode not in _RESIZE_MODES:
        raise ValueError(f"resize_mode must be one of {', '.join(_RESIZE_MODES)}")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows_per_shard = [samples_per_shard] * shards
    if last_shard_samples is not None:
        rows_per_shard[-1] = last_shard_samples
    planned = _plan_rows(
        rows_per_shard, samples_per_shard, oom_shard_count, seed, dead_fraction, duplicate_urls, duplicate_images
    )
    pictures = _make_pictures(
        seed, sorted({row.image_id for row in planned if row.image_id is not None}), image_size, resize_mode
    )

    columns = {"url": url_column, "caption": caption_column, "key": key_column}
    schema = _schema(columns, hash_columns, with_pdq_column)
    names = [shard_name(shard_id, oom_shard_count) for shard_id in range(shards)]
    samples: list[SyntheticSample] = []
    originals: dict[str, bytes] = {}
    for shard_id, name in enumerate(names):
        rows = [row for row in planned if row.shard_id == shard_id]
        metas = [_meta(row, pictures, columns, hash_columns, with_pdq_column, image_size) for row in rows]
        _write_parquet(out / f"{name}.parquet", schema, metas)
        times = _shard_times(seed, shard_id, len(rows))
        if with_tars:
            _write_tar(out / f"{name}.tar", rows, metas, pictures, times)
        _write_stats(out / f"{name}_stats.json", rows, times)
        for row in rows:
            picture = pictures.get(row.image_id)
            samples.append(_sample(row, name, picture))
            if picture is not None:
                originals[row.key] = picture.original
    return SyntheticRelease(
        path=out,
        shard_names=names,
        samples=samples,
        originals=originals,
        hash_columns=hash_columns,
        with_tars=with_tars,
        with_pdq_column=with_pdq_column,
        image_size=image_size,
        samples_per_shard=samples_per_shard,
        oom_shard_count=oom_shard_count,
        columns=columns,
    )


def reencode(image_bytes: bytes, *, size: int | None = None, quality: int = 70, fmt: str = "JPEG") -> bytes:
    """A re-encoded copy of an image, as a hotline or a mirror might hold it.

    size, when given, is the longer side of the copy (the aspect ratio is
    kept); quality applies to lossy formats (JPEG, WEBP).
    """
    with Image.open(io.BytesIO(image_bytes)) as image:
        rgb = image.convert("RGB")
    if size is not None:
        scale = size / max(rgb.size)
        rgb = rgb.resize(
            (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))), Image.Resampling.LANCZOS
        )
    out = io.BytesIO()
    options = {"quality": quality} if fmt.upper() in ("JPEG", "WEBP") else {}
    rgb.save(out, fmt, **options)
    return out.getvalue()


def write_removals_csv(path, rows: Iterable[tuple[str, str] | ExpectedRemoval]) -> Path:
    """Write a removal file: a `kind,value` header, then one identifier per line."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["kind", "value"])
        for row in rows:
            writer.writerow([row.kind, row.value] if isinstance(row, ExpectedRemoval) else list(row))
    return path


def make_removals(
    release: SyntheticRelease,
    *,
    seed: int = 0,
    n_url: int = 2,
    n_key: int = 2,
    n_md5: int = 1,
    n_sha1: int = 0,
    n_sha256: int = 1,
    n_pdq: int = 2,
    n_unmatched: int = 2,
) -> list[ExpectedRemoval]:
    """Removal identifiers of every kind for a release, each with the keys it must hit.

    URLs alternate between a non-normalised equivalent form (upper-case host,
    explicit :443) and the canonical form. Hashes are digests of the original
    bytes: they hit nothing when the release lacks that hash column. PDQ
    values are hashes of re-encoded copies of originals (never identical to a
    stored hash) and hit every sample within distance 31, which needs a PDQ
    column or tars to hash. Duplicated URLs and images are picked first, so
    their identifiers hit two keys. The last n_unmatched identifiers match
    nothing. Failed rows are not samples and are never hit.
    """
    rng = np.random.default_rng([seed, _REMOVALS])
    successful = release.successful()
    if not successful:
        raise ValueError("the release has no successful samples to remove")
    order = [successful[i] for i in rng.permutation(len(successful))]
    duplicates = release.duplicates()
    # The first identifier of each kind names a duplicated sample, so it must hit two keys.
    dup_url = release.by_key(duplicates["url"][0][0]) if duplicates["url"] else None
    dup_image = release.by_key(duplicates["image"][0][0]) if duplicates["image"] else None
    used = {sample.key for sample in (dup_url, dup_image) if sample}

    def fresh() -> SyntheticSample:
        for sample in order:
            if sample.key not in used:
                used.add(sample.key)
                return sample
        return order[int(rng.integers(len(order)))]  # more identifiers than samples: reuse one

    def candidates(first: SyntheticSample | None) -> Iterator[SyntheticSample]:
        if first:
            yield first
        while True:
            yield fresh()

    removals: list[ExpectedRemoval] = []
    for i in range(n_url):
        sample = dup_url if i == 0 and dup_url else fresh()
        value = _denormalised_url(sample.canonical_url, i) if i % 2 == 0 else sample.canonical_url
        keys = {s.key for s in successful if s.canonical_url == sample.canonical_url}
        removals.append(ExpectedRemoval("url", value, frozenset(keys)))
    for _ in range(n_key):
        sample = fresh()
        removals.append(ExpectedRemoval("key", sample.key, frozenset({sample.key})))
    for kind, count in (("md5", n_md5), ("sha1", n_sha1), ("sha256", n_sha256)):
        for i in range(count):
            sample = dup_image if i == 0 and dup_image else fresh()
            value = getattr(sample, kind)
            keys = {s.key for s in successful if getattr(s, kind) == value} if kind in release.hash_columns else set()
            removals.append(ExpectedRemoval(kind, value, frozenset(keys)))
    hashable = release.with_pdq_column or release.with_tars
    for i in range(n_pdq):
        removals.append(_pdq_removal(release, successful, candidates(dup_image if i == 0 else None), i, hashable))
    for i in range(n_unmatched):
        removals.append(_unmatched(release, successful, rng, i))
    return removals


def write_plain_parquet(out_dir, *, files: int = 2, rows_per_file: int = 10, seed: int = 0) -> list[PlainRow]:
    """Write LAION-style metadata parquet files (no key, no status, upper-case URL and TEXT).

    Columns as in laion2B-en: URL, TEXT, WIDTH, HEIGHT, similarity, hash
    (int64), punsafe, pwatermark; files named like Spark's
    `part-00000-<uuid>-c000.snappy.parquet`. Returns every row in file order.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, _PLAIN])
    job = bytes(rng.integers(0, 256, 16, dtype=np.uint8)).hex()
    job_uuid = f"{job[:8]}-{job[8:12]}-{job[12:16]}-{job[16:20]}-{job[20:]}"
    schema = pa.schema(
        [
            pa.field("URL", pa.string()),
            pa.field("TEXT", pa.string()),
            pa.field("WIDTH", pa.int64()),
            pa.field("HEIGHT", pa.int64()),
            pa.field("similarity", pa.float64()),
            pa.field("hash", pa.int64()),
            pa.field("punsafe", pa.float32()),
            pa.field("pwatermark", pa.float32()),
        ]
    )
    rows: list[PlainRow] = []
    for part in range(files):
        file_name = f"part-{part:05d}-{job_uuid}-c000.snappy.parquet"
        values = []
        for row in range(rows_per_file):
            url, _ = _url(rng, variant=None)
            text = _caption(rng)
            values.append(
                {
                    "URL": url,
                    "TEXT": text,
                    "WIDTH": int(rng.integers(200, 2048)),
                    "HEIGHT": int(rng.integers(200, 2048)),
                    "similarity": float(rng.uniform(0.28, 0.45)),
                    # LAION's hash identifies the (URL, TEXT) pair; any stable 64-bit digest stands in.
                    "hash": int.from_bytes(hashlib.sha256(f"{url}\t{text}".encode()).digest()[:8], "big", signed=True),
                    "punsafe": float(np.float32(rng.beta(1, 20))),
                    "pwatermark": float(np.float32(rng.beta(1, 8))),
                }
            )
            rows.append(PlainRow(file=file_name, row=row, values=values[-1]))
        table = pa.Table.from_pylist(values, schema=schema)
        pq.write_table(table, out / file_name)
    return rows


def _plan_rows(
    rows_per_shard: list[int],
    samples_per_shard: int,
    oom_shard_count: int,
    seed: int,
    dead_fraction: float,
    duplicate_urls: int,
    duplicate_images: int,
) -> list[_PlannedRow]:
    rng = np.random.default_rng([seed, _PLAN])
    planned = [
        _PlannedRow(
            shard_id=shard_id,
            row=row,
            key=sample_key(shard_id, row, samples_per_shard=samples_per_shard, oom_shard_count=oom_shard_count),
            url="",
            canonical_url="",
            caption=_caption(rng),
        )
        for shard_id, count in enumerate(rows_per_shard)
        for row in range(count)
    ]
    total = len(planned)
    variant_rows = rng.permutation(total)[: max(len(_URL_VARIANTS), total // 6)]
    variants = {int(i): _URL_VARIANTS[n % len(_URL_VARIANTS)] for n, i in enumerate(variant_rows)}
    seen_urls: set[str] = set()
    for position, row in enumerate(planned):
        while not row.url or row.canonical_url in seen_urls:
            row.url, row.canonical_url = _url(rng, variants.get(position))
        seen_urls.add(row.canonical_url)

    dead = sorted(int(i) for i in rng.choice(total, size=round(dead_fraction * total), replace=False))
    for n, position in enumerate(dead):
        row = planned[position]
        # Most dead links fail to download; a few download something that is not an image.
        if n % 4 == 3:
            row.status, row.error_message = FAILED_TO_RESIZE, str(rng.choice(_RESIZE_ERRORS))
        else:
            row.status, row.error_message = FAILED_TO_DOWNLOAD, str(rng.choice(_DOWNLOAD_ERRORS))
    alive = [position for position in range(total) if planned[position].status == SUCCESS]
    for position in alive:
        planned[position].image_id = position

    needed = 2 * (duplicate_urls + duplicate_images)
    if needed > len(alive):
        raise ValueError(f"{needed} successful samples needed for the duplicates, only {len(alive)} planned")
    free = [alive[i] for i in rng.permutation(len(alive))]
    for _ in range(duplicate_images):
        first, second = _pair(free, planned)
        planned[second].image_id = planned[first].image_id
    for _ in range(duplicate_urls):
        first, second = _pair(free, planned)
        planned[second].url = planned[first].url
        planned[second].canonical_url = planned[first].canonical_url
    return planned


def _pair(free: list[int], planned: list[_PlannedRow]) -> tuple[int, int]:
    """Two free rows, in different shards when the release has more than one."""
    first = free.pop()
    several_shards = planned[-1].shard_id > 0
    for i, other in enumerate(free):
        if not several_shards or planned[other].shard_id != planned[first].shard_id:
            free.pop(i)
            return min(first, other), max(first, other)
    raise ValueError("not enough successful samples in other shards for the duplicates")


def _url(rng: np.random.Generator, variant: str | None) -> tuple[str, str]:
    """A synthetic image URL as written, and its canonical form."""
    host = f"img{int(rng.integers(1, 10))}.example-cdn.com"
    name = bytes(rng.integers(0, 256, 8, dtype=np.uint8)).hex()
    path, query = f"/photos/{name}.jpg", ""
    written_host, written_path = host, path
    if variant == "upper_host":
        written_host = host.upper().replace("EXAMPLE-CDN", "Example-CDN")
    elif variant == "default_port":
        written_host = f"{host}:443"
    elif variant == "percent_unreserved":
        # %7E is "~", which needs no escaping: normalisation decodes it.
        path, written_path = f"/photos/~studio/{name}.jpg", f"/photos/%7Estudio/{name}.jpg"
    elif variant == "percent_lowercase":
        # A UTF-8 byte must stay escaped: normalisation only upper-cases its hex digits.
        path, written_path = f"/photos/caf%C3%A9/{name}.jpg", f"/photos/caf%c3%a9/{name}.jpg"
    elif variant == "query":
        query = f"?w={int(rng.integers(3, 13)) * 100}&q=80"
    return f"https://{written_host}{written_path}{query}", f"https://{host}{path}{query}"


def _denormalised_url(canonical: str, i: int) -> str:
    """An equivalent spelling of a canonical URL: upper-case host, explicit default port, or both."""
    scheme, _, rest = canonical.partition("://")
    host, slash, tail = rest.partition("/")
    forms = (host.upper(), f"{host}:443", f"{host.upper()}:443")
    return f"{scheme.upper()}://{forms[(i // 2) % len(forms)]}{slash}{tail}"


def _caption(rng: np.random.Generator) -> str:
    return f"{rng.choice(_STYLES)} {rng.choice(_SUBJECTS)}{rng.choice(_SUFFIXES)}"


def _cosines(n: int) -> np.ndarray:
    """(17, n) DCT-II basis rows 0..16 over n pixels: the frequencies PDQ looks at, and DC."""
    x = (np.arange(n, dtype=np.float32) + 0.5) / n
    return np.cos(np.pi * np.arange(17, dtype=np.float32)[:, None] * x[None, :])


def _draw_picture(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    # PDQ keeps the sign of each of the 16x16 lowest DCT coefficients (DC excluded) against
    # their median. Drawing exactly 128 positive and 128 negative ones, none near zero, puts
    # that median in a gap, so every bit survives resizing and re-encoding, while two
    # pictures share only chance bits (about 128 apart).
    signs = np.repeat(np.float32([1.0, -1.0]), 128)
    rng.shuffle(signs)
    luma = np.zeros((17, 17), dtype=np.float32)
    luma[1:, 1:] = (signs * rng.uniform(0.5, 1.0, 256)).reshape(16, 16)
    luma[0, 1:] = rng.normal(0, 0.5, 16)  # pure horizontal and vertical bands: unhashed variety
    luma[1:, 0] = rng.normal(0, 0.5, 16)
    # Colour varies slowly and leaves luminance alone (BT.601 inverse), so it cannot move the hash.
    cb, cr = np.zeros((2, 17, 17), dtype=np.float32)
    cb[:4, :4], cr[:4, :4] = rng.normal(0, 1, (2, 4, 4))
    # The field holds nothing finer than 8 cycles across, so a 64x64 rendering scaled up
    # bicubically is exact to a couple of grey levels; small matrix products also keep BLAS
    # single-threaded, which matters when a process per core draws pictures.
    grid = _cosines(_RENDER)
    for coefficients, amplitude in ((luma, rng.uniform(60, 90)), (cb, 25.0), (cr, 25.0)):
        coefficients *= amplitude / np.abs(grid.T @ coefficients @ grid).max()
    luma[0, 0] += rng.uniform(90, 160)
    channels = np.stack([luma + 1.402 * cr, luma - 0.344136 * cb - 0.714136 * cr, luma + 1.772 * cb])
    rgb = np.clip((grid.T @ channels @ grid).transpose(1, 2, 0), 0, 255).astype(np.uint8)
    picture = Image.fromarray(rgb).resize((width, height), Image.Resampling.BICUBIC)
    # Translucent shapes: opaque hard edges would add enough detail to flip PDQ bits on resize.
    draw = ImageDraw.Draw(picture, "RGBA")
    for _ in range(int(rng.integers(2, 6))):
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(min(width, height) // 12, min(width, height) // 5))
        colour = (*(int(c) for c in rng.integers(0, 256, 3)), 90)
        shape = int(rng.integers(3))
        if shape == 0:
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
        elif shape == 1:
            draw.rectangle([cx - r, cy - r // 2, cx + r, cy + r // 2], fill=colour)
        else:
            draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    return picture


def _make_pictures(seed: int, image_ids: list[int], image_size: int, resize_mode: str) -> dict[int, _Picture]:
    """The pictures by id; large sets on every core (each picture depends only on its seed and id)."""
    workers = min(os.cpu_count() or 1, len(image_ids) // _PICTURES_PER_WORKER)
    if workers <= 1 or multiprocessing.current_process().daemon:
        return {image_id: _make_picture(seed, image_id, image_size, resize_mode) for image_id in image_ids}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        made = pool.map(_make_picture, repeat(seed), image_ids, repeat(image_size), repeat(resize_mode),
                        chunksize=16)
        return dict(zip(image_ids, made, strict=False))


def _make_picture(seed: int, image_id: int, image_size: int, resize_mode: str) -> _Picture:
    rng = np.random.default_rng([seed, image_id, _IMAGE])
    width = int(rng.integers(300, 641))
    if resize_mode == "border":
        # Any shape: the border mode keeps the whole picture.
        height = int(round(width * rng.uniform(0.55, 1.8)))
    else:
        # Near-square: img2dataset's centre crop then cuts at most 1.5% off each side, and
        # PDQ (unlike resizing) does not survive bigger crops.
        height = int(round(width * rng.uniform(0.97, 1.03)))
    picture = _draw_picture(rng, width, height)
    out = io.BytesIO()
    exif = "{}"
    if rng.random() < 0.15:
        fmt = "PNG"
        picture.save(out, "PNG", compress_level=1)  # fast; the level is invisible to readers
    else:
        fmt = "JPEG"
        options = {"quality": int(rng.integers(80, 96))}
        if rng.random() < 0.3:
            tags = {"Image Make": "SynthCam", "Image Model": f"S{int(rng.integers(1, 9))}",
                    "Image DateTime": f"2021:{int(rng.integers(1, 13)):02d}:{int(rng.integers(1, 29)):02d} 12:00:00"}
            camera = Image.Exif()
            for name, value in tags.items():
                camera[_EXIF_TAGS[name]] = value
            options["exif"] = camera.tobytes()
            exif = json.dumps(tags)  # what img2dataset's exifread call reports for these tags
        picture.save(out, "JPEG", **options)
    original = out.getvalue()
    member, picture_box = _resize_like_img2dataset(original, image_size, resize_mode)
    hash_hex, quality = pdq.compute(original)
    # What an importer should hash: the picture inside the padding, not the white square.
    member_hex, member_quality = pdq.hash_image(pdq.decode(member).crop(picture_box))
    return _Picture(original, fmt, width, height, exif, member, hash_hex, quality, member_hex, member_quality)


def _resize_like_img2dataset(original: bytes, image_size: int, resize_mode: str
                             ) -> tuple[bytes, tuple[int, int, int, int]]:
    """The tar member img2dataset writes (JPEG) and the box the picture occupies in it.

    "border": scale the longer side to image_size and centre the picture on a
    white square. "center_crop": scale the shorter side and keep the middle.
    """
    with Image.open(io.BytesIO(original)) as image:
        full_size = image.size  # img2dataset sizes the picture from the full-size original
        image.draft("RGB", (image_size, image_size))  # big JPEGs decode at half scale: cheaper, same picture
        rgb = image.convert("RGB")
    width, height = rgb.size
    if resize_mode == "border":
        scale = image_size / max(full_size)
        inner = (round(full_size[0] * scale), round(full_size[1] * scale))
        method = Image.Resampling.BOX if scale <= 1 else Image.Resampling.LANCZOS
        square = Image.new("RGB", (image_size, image_size), (255, 255, 255))
        left, top = (image_size - inner[0]) // 2, (image_size - inner[1]) // 2
        square.paste(rgb.resize(inner, method), (left, top))
        box = (left, top, left + inner[0], top + inner[1])
    else:
        side = min(width, height)
        crop = ((width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2)
        # img2dataset shrinks with cv2.INTER_AREA (PIL's BOX) and enlarges with Lanczos.
        method = Image.Resampling.BOX if side >= image_size else Image.Resampling.LANCZOS
        square = rgb.resize((image_size, image_size), method, box=crop)
        box = (0, 0, image_size, image_size)
    out = io.BytesIO()
    square.save(out, "JPEG", quality=_MEMBER_QUALITY)
    return out.getvalue(), box


def _schema(columns: dict[str, str], hash_columns: tuple[str, ...], with_pdq_column: bool) -> pa.Schema:
    # img2dataset's order: the input columns (caption before url), then what the download adds.
    fields = [
        pa.field(columns["caption"], pa.string()),
        pa.field(columns["url"], pa.string()),
        pa.field(columns["key"], pa.string()),
        pa.field("status", pa.string()),
        pa.field("error_message", pa.string()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("original_width", pa.int32()),
        pa.field("original_height", pa.int32()),
        pa.field("exif", pa.string()),
    ]
    fields += [pa.field(name, pa.string()) for name in hash_columns]
    if with_pdq_column:
        fields.append(pa.field("pdq", pa.string()))
    return pa.schema(fields)


def _meta(
    row: _PlannedRow,
    pictures: dict[int, _Picture],
    columns: dict[str, str],
    hash_columns: tuple[str, ...],
    with_pdq_column: bool,
    image_size: int,
) -> dict:
    """The row as img2dataset records it: in the parquet and, for successes, as the tar's .json."""
    picture = pictures.get(row.image_id)
    meta = {
        columns["caption"]: row.caption,
        columns["url"]: row.url,
        columns["key"]: row.key,
        "status": row.status,
        "error_message": row.error_message,
        "width": image_size if picture else None,
        "height": image_size if picture else None,
        "original_width": picture.width if picture else None,
        "original_height": picture.height if picture else None,
        "exif": picture.exif if picture else None,
    }
    for name in hash_columns:
        meta[name] = hashlib.new(name, picture.original).hexdigest() if picture else None
    if with_pdq_column:
        meta["pdq"] = picture.pdq if picture else None
    return meta


def _write_parquet(path: Path, schema: pa.Schema, metas: list[dict]) -> None:
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, len(metas), _ROW_GROUP_ROWS):
            writer.write_table(pa.Table.from_pylist(metas[start : start + _ROW_GROUP_ROWS], schema=schema))


def _shard_times(seed: int, shard_id: int, rows: int) -> tuple[float, float]:
    """A plausible (start, end) of a shard's download, fixed by the seed: no wall clock."""
    rng = np.random.default_rng([seed, shard_id, _TIMES])
    start = 1_690_000_000 + seed % 1000 * 86_400 + shard_id * float(rng.uniform(1, 4)) + float(rng.random())
    return start, start + rows * float(rng.uniform(0.02, 0.06)) + float(rng.uniform(0.5, 2))


def _write_tar(
    path: Path, rows: list[_PlannedRow], metas: list[dict], pictures: dict[int, _Picture], times: tuple[float, float]
) -> None:
    start, end = times
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        for position, (row, meta) in enumerate(zip(rows, metas, strict=False)):
            if row.image_id is None:
                continue
            members = {
                "jpg": pictures[row.image_id].member,
                "json": json.dumps(meta, indent=4).encode(),
                "txt": row.caption.encode(),
            }
            # webdataset stamps each member with time.time(), a float, which tarfile
            # stores in a PAX header: readers of real shards meet those headers too.
            mtime = start + (end - start) * position / max(1, len(rows))
            for extension in sorted(members):
                data = members[extension]
                info = tarfile.TarInfo(f"{row.key}.{extension}")
                info.size = len(data)
                info.mtime = mtime
                info.mode = _TAR_MODE
                info.uname = info.gname = _TAR_OWNER
                archive.addfile(info, io.BytesIO(data))


def _write_stats(path: Path, rows: list[_PlannedRow], times: tuple[float, float]) -> None:
    start, end = times
    status_dict = Counter(row.error_message if row.error_message else row.status for row in rows)
    stats = {
        "count": len(rows),
        "successes": sum(row.status == SUCCESS for row in rows),
        "failed_to_download": sum(row.status == FAILED_TO_DOWNLOAD for row in rows),
        "failed_to_resize": sum(row.status == FAILED_TO_RESIZE for row in rows),
        "duration": end - start,
        "start_time": start,
        "end_time": end,
        "status_dict": dict(status_dict),
    }
    path.write_text(json.dumps(stats, indent=4))


def _sample(row: _PlannedRow, shard: str, picture: _Picture | None) -> SyntheticSample:
    image = {}
    if picture is not None:
        image = {
            "original_width": picture.width,
            "original_height": picture.height,
            "original_format": picture.fmt,
            **{kind: hashlib.new(kind, picture.original).hexdigest() for kind in identifiers.HASH_KINDS},
            "pdq": picture.pdq,
            "pdq_quality": picture.quality,
            "member_pdq": picture.member_pdq,
            "member_quality": picture.member_quality,
        }
    return SyntheticSample(
        key=row.key,
        shard=shard,
        row=row.row,
        url=row.url,
        canonical_url=row.canonical_url,
        caption=row.caption,
        status=row.status,
        error_message=row.error_message,
        **image,
    )


def _pdq_removal(
    release: SyntheticRelease,
    successful: list[SyntheticSample],
    candidates: Iterator[SyntheticSample],
    i: int,
    hashable: bool,
) -> ExpectedRemoval:
    """PDQ of a re-encoded copy of an original, near but not equal to every stored hash.

    The hits must agree whether the importer compares with the original's PDQ
    or with the tar member's.
    """
    stored = {s.pdq for s in successful} | {s.member_pdq for s in successful}
    # Full-size and thumbnail copies at several qualities, as hotlines hold them; these
    # pictures hash so stably that some copies come out identical to the stored hash.
    copies = _PDQ_COPIES[i % len(_PDQ_COPIES):] + _PDQ_COPIES[: i % len(_PDQ_COPIES)]
    for _, sample in zip(range(len(successful) + 1), candidates, strict=False):
        for size, quality in copies:
            value, _ = pdq.compute(reencode(release.originals[sample.key], size=size, quality=quality))
            by_original = {s.key for s in successful if pdq.distance(value, s.pdq) <= PDQ_MATCH_DISTANCE}
            by_member = {s.key for s in successful if pdq.distance(value, s.member_pdq) <= PDQ_MATCH_DISTANCE}
            if value not in stored and sample.key in by_original and by_original == by_member:
                return ExpectedRemoval("pdq", value, frozenset(by_original if hashable else ()))
    raise ValueError("no re-encoded copy of an original matches it unambiguously by PDQ")


def _unmatched(release: SyntheticRelease, successful: list[SyntheticSample], rng, i: int) -> ExpectedRemoval:
    """An identifier that matches no sample of the release."""
    kind = ("sha256", "url", "pdq", "md5", "key")[i % 5]
    if kind in ("sha256", "md5"):
        value = bytes(rng.integers(0, 256, 32 if kind == "sha256" else 16, dtype=np.uint8)).hex()
    elif kind == "url":
        canonical = {sample.canonical_url for sample in release.samples}
        value = ""
        while not value or value in canonical:
            value, _ = _url(rng, None)
    elif kind == "pdq":
        stored = [s.pdq for s in successful] + [s.member_pdq for s in successful]
        value = ""
        while not value or min(pdq.distance(value, h) for h in stored) <= PDQ_MATCH_DISTANCE:
            value = bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex()
    else:
        # A row of the shard after the last one: well-formed, absent.
        value = sample_key(
            len(release.shard_names), i, samples_per_shard=release.samples_per_shard,
            oom_shard_count=release.oom_shard_count,
        )
    return ExpectedRemoval(kind, value, frozenset())
