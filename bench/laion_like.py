"""A synthetic LAION-like release at benchmark scale: img2dataset parquet shards, no images.

Each shard `NNNNN.parquet` has img2dataset's columns in its order (caption,
url, key, status, error_message, width, height, original_width,
original_height, exif) plus md5 and pdq. About 8% of rows failed to download.
Some successful rows repeat another shard's image (same md5 and pdq, other
URL) or another shard's URL (same string, other image), as re-hosted pictures
and re-crawled pages do in real crawls.

Every value of a row is a pure function of (seed, global row number), drawn
with a counter-based hash, so a shard can be written on its own and still
copy a row of another shard without generating it: shards are built with
whole-array numpy/pyarrow operations and written in parallel.

All URLs are already canonical (lower-case scheme and host, no port, no
fragment, a path, no percent escapes), so an exact string comparison and the
product's normalising matcher agree on them.

Usage: python bench/laion_like.py OUT --shards 1000 --rows-per-shard 10000 [--seed 0]
"""
from __future__ import annotations

import argparse
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

FAILED_FRACTION = 0.08
IMAGE_REPEAT_FRACTION = 0.005
URL_REPEAT_FRACTION = 0.005
HOST_COUNT = 50_000
OOM_SHARD_COUNT = 5  # img2dataset's default: 5-digit shard names
# img2dataset's parquet writer flushes every 100 rows, one row group each; readers of real
# releases pay for that, so the benchmark should too.
ROW_GROUP_ROWS = 100
IMAGE_SIZE = 256  # img2dataset's default image_size; "border" resizing makes every image square
SUCCESS = "success"
FAILED = "failed_to_download"

SCHEMA = pa.schema([
    ("caption", pa.string()),
    ("url", pa.string()),
    ("key", pa.string()),
    ("status", pa.string()),
    ("error_message", pa.string()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("original_width", pa.int32()),
    ("original_height", pa.int32()),
    ("exif", pa.string()),
    ("md5", pa.string()),
    ("pdq", pa.string()),
])

# One random stream per purpose, so drawing one value never shifts another.
(_STATUS, _REPEAT, _IMAGE_SOURCE, _URL_SOURCE, _MD5, _PDQ, _HOST, _PATH, _PATH2, _PATH3,
 _CAPTION, _SIZE, _EXIF, _ERROR, _HOSTS) = range(1, 16)
_MASK64 = (1 << 64) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_BASE62 = pa.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))

_WORDS = (
    "red blue green black white golden silver vintage modern rustic classic happy little big wild urban "
    "summer winter autumn spring ocean mountain river forest desert garden city village island coast "
    "lake valley sunset sunrise night morning cat dog horse bird flower rose tulip tree leaf stone wood "
    "paper glass metal cotton linen leather silk wool ceramic marble bronze copper kitchen bedroom office "
    "studio cafe bakery market shop store home house cottage cabin castle bridge tower church temple road "
    "street train car bike boat ship plane rocket robot dragon unicorn tiger lion bear wolf fox owl eagle "
    "butterfly bee shell coral whale dolphin fish apple lemon orange cherry berry grape mango coffee tea "
    "chocolate cake cookie bread pizza pasta salad soup wedding party birthday holiday christmas travel "
    "fashion style beauty design art craft photo print poster card gift toy game sport yoga fitness dance "
    "music guitar piano book story dream love family baby kids pet nature space star moon sun cloud rain "
    "snow storm wave sand rock gem crystal diamond pearl ring necklace dress shirt jacket shoe bag hat"
).split()
_TLDS = ("com",) * 12 + ("net", "org", "co.uk", "de", "fr", "ru", "jp", "com.au", "it", "nl", "pl", "es", "ca",
                         "in", "com.br", "io", "co", "info", "us", "se")
_HOST_PATTERNS = (
    "www.{a}{b}.{t}", "{a}-{b}.{t}", "{a}{b}{n}.{t}", "img.{a}{b}.{t}", "images.{a}-{b}.{t}", "cdn.{a}{b}.{t}",
    "static.{a}{b}.{t}", "media.{a}{b}.{t}", "i{n}.{a}{b}.{t}", "s{n}.{a}{b}cdn.net", "{a}{b}.files.wordpress.com",
    "{a}{b}{n}.wordpress.com", "assets.{a}{b}.{t}", "photos.{a}-{b}.{t}", "shop.{a}{b}.{t}",
)
# Path shapes, after the sites that dominate LAION; generated hosts get one of the generic ones.
_PINIMG, _SHOPIFY, _AMAZON, _FLICKR, _WIKIMEDIA, _WORDPRESS, _HEXNAME, _CATALOG, _THUMBS, _QUERY = range(10)
_GENERIC_TEMPLATES = (_WORDPRESS, _WORDPRESS, _HEXNAME, _CATALOG, _THUMBS, _QUERY)
# The most common hosts first: host popularity falls off with rank (Zipf).
_FAMOUS_HOSTS = (
    ("i.pinimg.com", _PINIMG), ("cdn.shopify.com", _SHOPIFY), ("images-na.ssl-images-amazon.com", _AMAZON),
    ("m.media-amazon.com", _AMAZON), ("i.ebayimg.com", _HEXNAME), ("ae01.alicdn.com", _HEXNAME),
    ("i.etsystatic.com", _HEXNAME), ("live.staticflickr.com", _FLICKR), ("upload.wikimedia.org", _WIKIMEDIA),
    ("images.squarespace-cdn.com", _HEXNAME), ("static.wixstatic.com", _HEXNAME), ("i0.wp.com", _WORDPRESS),
    ("i1.wp.com", _WORDPRESS), ("i2.wp.com", _WORDPRESS), ("farm4.staticflickr.com", _FLICKR),
    ("farm5.staticflickr.com", _FLICKR), ("thumbs.dreamstime.com", _THUMBS), ("st.depositphotos.com", _THUMBS),
    ("image.shutterstock.com", _THUMBS), ("us.123rf.com", _THUMBS), ("cdn.pixabay.com", _THUMBS),
    ("images.unsplash.com", _QUERY), ("lh3.googleusercontent.com", _HEXNAME), ("cdn.vox-cdn.com", _CATALOG),
    ("media.gettyimages.com", _QUERY), ("img.alicdn.com", _HEXNAME), ("s3.amazonaws.com", _HEXNAME),
    ("1.bp.blogspot.com", _HEXNAME), ("2.bp.blogspot.com", _HEXNAME), ("cdn.cliqueinc.com", _CATALOG),
)
_PIN_SIZES = pa.array(["originals", "736x", "564x", "474x", "236x"])
_AMAZON_SIZES = pa.array(["._AC_SL1500_", "._AC_SX679_", "._AC_UL320_", "._SY355_", "._AC_SY450_"])
_FLICKR_SIZES = pa.array(["_b", "_z", "_c", "_k", "_o"])
_WP_SUFFIXES = pa.array(["", "", "-1024x683", "-768x512", "-300x200", "-scaled", "-1"])
_EXTENSIONS = pa.array(["jpg"] * 12 + ["jpeg", "png", "png", "webp", "JPG", "gif"])
_STYLES = pa.array([
    "", "", "", "Stock photo of ", "Watercolour painting of ", "Close-up of ", "Vintage postcard showing ",
    "Product shot of ", "Illustration of ", "Oil painting of ", "Black and white photo of ", "Drawing of ",
    "Aerial view of ", "Portrait of ", "Poster with ", "Photo of ", "Minimalist ", "Handmade ", "Cute ",
])
_SUFFIXES = pa.array([
    "", "", "", "", " at sunset", " on a white background", " in the rain", " | 4k wallpaper", " - free download",
    " stock photo", " royalty free image", ", 1920s", " for sale", " - Etsy", " | Pinterest", " vector art",
    " (2019)", " HD", " - eBay", " set of 2",
])
_ASPECTS = np.array([0.5, 0.5625, 0.6667, 0.75, 0.75, 1.0, 1.0, 1.0, 1.25, 1.3333, 1.3333, 1.5, 1.5, 1.7778])
# Most downloaded images carry no EXIF that img2dataset keeps.
_EXIF_VALUES = pa.array(
    ["{}"] * 17
    + [f'{{"Image Make": "{make}", "Image Model": "{model}", "Image Orientation": "Horizontal (normal)"}}'
       for make, model in (("Canon", "Canon EOS 5D Mark III"), ("NIKON CORPORATION", "NIKON D750"),
                           ("Apple", "iPhone 8"), ("SONY", "ILCE-7M3"), ("samsung", "SM-G960F"))]
    + ['{"Image Software": "Adobe Photoshop CC 2019 (Windows)"}', '{"Image Orientation": "Horizontal (normal)"}']
)
_ERROR_MESSAGES = pa.array([
    "HTTP Error 404: Not Found", "HTTP Error 404: Not Found", "HTTP Error 403: Forbidden", "HTTP Error 410: Gone",
    "<urlopen error [Errno -2] Name or service not known>", "The read operation timed out",
    "HTTP Error 503: Service Unavailable", "<urlopen error [Errno 111] Connection refused>",
    "HTTP Error 429: Too Many Requests", "<urlopen error [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed>",
])


def key_digits(rows_per_shard: int) -> int:
    """Digits of the row index in an img2dataset key: ceil(log10(samples per shard))."""
    return math.ceil(math.log10(rows_per_shard)) if rows_per_shard > 1 else 0


def write_release(out_dir, *, shards: int = 1000, rows_per_shard: int = 10_000, seed: int = 0) -> None:
    """Write `shards` parquet shards of `rows_per_shard` rows each into out_dir, the same for the same seed."""
    if shards < 1 or rows_per_shard < 1:
        raise ValueError("shards and rows_per_shard must be at least 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(out, shard, shards, rows_per_shard, seed) for shard in range(shards)]
    workers = min(os.cpu_count() or 1, shards)
    if workers == 1:
        for job in jobs:
            _write_shard(job)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(_write_shard, jobs, chunksize=8):
            pass


def shard_table(shard: int, shards: int, rows_per_shard: int, seed: int = 0) -> pa.Table:
    """The rows of one shard, as written by write_release."""
    n = rows_per_shard
    row = shard * n + np.arange(n, dtype=np.uint64)
    failed, image_repeat, url_repeat = _flags(seed, row, shards)
    image_of = row.copy()
    image_of[image_repeat] = _sources(seed, _IMAGE_SOURCE, row[image_repeat], shards, n)
    url_of = row.copy()
    url_of[url_repeat] = _sources(seed, _URL_SOURCE, row[url_repeat], shards, n)

    oom = key_digits(n)
    key_number = pa.array(10**oom * shard + np.arange(n, dtype=np.int64))
    keys = pc.utf8_lpad(pc.cast(key_number, pa.string()), width=OOM_SHARD_COUNT + oom, padding="0")
    side = pa.array(np.full(n, IMAGE_SIZE, dtype=np.int32), mask=failed)
    original_w, original_h = _original_sizes(seed, row, failed)
    null = pa.scalar(None, pa.string())
    ok = pa.array(~failed)
    columns = {
        "caption": _captions(seed, row),
        "url": _urls(seed, url_of),
        "key": keys,
        "status": pc.if_else(ok, SUCCESS, FAILED),
        "error_message": pc.if_else(ok, null, _pick(_ERROR_MESSAGES, _bits(seed, _ERROR, row))),
        "width": side,
        "height": side,
        "original_width": original_w,
        "original_height": original_h,
        "exif": pc.if_else(ok, _pick(_EXIF_VALUES, _bits(seed, _EXIF, row)), null),
        "md5": _hex(_words(seed, _MD5, image_of, 2), valid=~failed),
        "pdq": _hex(_words(seed, _PDQ, image_of, 4), valid=~failed),
    }
    return pa.table(columns, schema=SCHEMA)


def _write_shard(job: tuple[Path, int, int, int, int]) -> None:
    out, shard, shards, rows_per_shard, seed = job
    path = out / f"{shard:0{OOM_SHARD_COUNT}d}.parquet"
    partial = path.with_name(f".{path.name}.partial")  # not *.parquet: readers never see half a shard
    table = shard_table(shard, shards, rows_per_shard, seed)
    pq.write_table(table, partial, row_group_size=ROW_GROUP_ROWS, compression="snappy")
    partial.replace(path)


# Counter-based randomness: 64 bits for (seed, stream, row), with no state to carry between shards.

def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection of uint64 that scrambles every bit."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _stream_key(seed: int, *parts: int) -> np.uint64:
    key = np.array([seed & _MASK64], dtype=np.uint64)
    for part in parts:
        key = _mix(key ^ np.uint64(part & _MASK64)) + _GOLDEN
    return key[0]


def _bits(seed: int, stream: int, row: np.ndarray, *parts: int) -> np.ndarray:
    return _mix((row * _GOLDEN) ^ _stream_key(seed, stream, *parts))


def _uniform(bits: np.ndarray) -> np.ndarray:
    return (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _flags(seed: int, row: np.ndarray, shards: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(failed, repeats another row's image, repeats another row's URL) for each row."""
    failed = _uniform(_bits(seed, _STATUS, row)) < FAILED_FRACTION
    if shards < 2:  # a repeat comes from another shard
        none = np.zeros(len(row), dtype=bool)
        return failed, none, none
    draw = _uniform(_bits(seed, _REPEAT, row))
    image_repeat = ~failed & (draw < IMAGE_REPEAT_FRACTION)
    url_repeat = ~failed & (draw >= IMAGE_REPEAT_FRACTION) & (draw < IMAGE_REPEAT_FRACTION + URL_REPEAT_FRACTION)
    return failed, image_repeat, url_repeat


def _sources(seed: int, stream: int, row: np.ndarray, shards: int, rows_per_shard: int) -> np.ndarray:
    """For each repeating row, a successful row of another shard that repeats nothing itself.

    Sources are drawn until one qualifies (92% do), so a copy never points at a
    copy and chains never form.
    """
    source = np.empty_like(row)
    todo = np.arange(len(row))
    attempt = 0
    n_shards, n_rows = np.uint64(shards), np.uint64(rows_per_shard)
    while todo.size:
        bits = _bits(seed, stream, row[todo], attempt)
        shard = row[todo] // n_rows
        other = (shard + np.uint64(1) + (bits & np.uint64(0xFFFFFFFF)) % (n_shards - np.uint64(1))) % n_shards
        candidate = other * n_rows + (bits >> np.uint64(32)) % n_rows
        failed, image_repeat, url_repeat = _flags(seed, candidate, shards)
        good = ~(failed | image_repeat | url_repeat)
        source[todo[good]] = candidate[good]
        todo = todo[~good]
        attempt += 1
    return source


def _words(seed: int, stream: int, row: np.ndarray, count: int) -> np.ndarray:
    return np.stack([_bits(seed, stream, row, i) for i in range(count)], axis=1)


# Strings, built whole-column.

def _string_array(chars: np.ndarray, width: int, valid: np.ndarray | None = None) -> pa.Array:
    """A string array from an (n, width) uint8 matrix of ASCII characters."""
    n = len(chars)
    offsets = pa.py_buffer((np.arange(n + 1, dtype=np.int32) * width).tobytes())
    data = pa.py_buffer(np.ascontiguousarray(chars).tobytes())
    if valid is None or valid.all():
        return pa.StringArray.from_buffers(n, offsets, data)
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little").tobytes())
    return pa.StringArray.from_buffers(n, offsets, data, bitmap, int(n - valid.sum()))


def _hex(words: np.ndarray, *, valid: np.ndarray | None = None, chars: int | None = None) -> pa.Array:
    """Lower-case hex of each row's uint64 words, most significant first (optionally only the first `chars`)."""
    raw = words.astype(">u8").view(np.uint8).reshape(len(words), -1)
    digits = _HEX_DIGITS[np.stack([raw >> 4, raw & 15], axis=2)].reshape(len(words), -1)
    if chars is not None:
        digits = digits[:, :chars]
    return _string_array(digits, digits.shape[1], valid)


def _pick(pool: pa.Array, bits: np.ndarray) -> pa.Array:
    return pool.take(pa.array(bits % np.uint64(len(pool))))


def _number(bits: np.ndarray, low: int, high: int, width: int = 0) -> pa.Array:
    values = pa.array((low + bits % np.uint64(high - low)).astype(np.int64))
    text = pc.cast(values, pa.string())
    return pc.utf8_lpad(text, width=width, padding="0") if width else text


def _join(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


@lru_cache(maxsize=4)
def _host_pool(seed: int) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """(host names, path template of each, cumulative popularity), HOST_COUNT hosts, most popular first."""
    rng = np.random.default_rng([seed, _HOSTS])
    hosts = dict(_FAMOUS_HOSTS)
    # A Python loop over hosts (not rows) is cheap: this runs once per process.
    while len(hosts) < HOST_COUNT:
        a, b = rng.choice(_WORDS, 2)
        pattern = _HOST_PATTERNS[rng.integers(len(_HOST_PATTERNS))]
        name = pattern.format(a=a, b=b, t=_TLDS[rng.integers(len(_TLDS))], n=int(rng.integers(1, 100)))
        hosts.setdefault(name, _GENERIC_TEMPLATES[rng.integers(len(_GENERIC_TEMPLATES))])
    popularity = 1.0 / np.arange(1, HOST_COUNT + 1)
    cdf = np.cumsum(popularity) / popularity.sum()
    return pa.array(list(hosts)), np.array(list(hosts.values()), dtype=np.int8), cdf


def _urls(seed: int, row: np.ndarray) -> pa.Array:
    """Each row's canonical image URL: https, a pooled host, a path in that host's style."""
    names, templates, cdf = _host_pool(seed)
    host = np.minimum(np.searchsorted(cdf, _uniform(_bits(seed, _HOST, row))), HOST_COUNT - 1)
    template = templates[host]
    pieces, order = [], []
    for shape in np.unique(template):
        at = np.flatnonzero(template == shape)
        path = _PATHS[shape](seed, row[at])
        pieces.append(_join("https://", names.take(pa.array(host[at])), path))
        order.append(at)
    # Rows were grouped by path shape; put them back in row order.
    by_shape = pa.concat_arrays(pieces)
    return by_shape.take(pa.array(np.argsort(np.concatenate(order), kind="stable")))


def _slug(seed: int, row: np.ndarray, stream: int) -> pa.Array:
    bits = _bits(seed, stream, row, 99)
    words = pa.array(_WORDS)
    return _join(_pick(words, bits), "-", _pick(words, bits >> np.uint64(16)), "-",
                 _pick(words, bits >> np.uint64(32)))


def _path_pinimg(seed, row):
    name = _hex(_words(seed, _PATH, row, 2))
    size = _pick(_PIN_SIZES, _bits(seed, _PATH2, row))
    return _join("/", size, "/", pc.utf8_slice_codeunits(name, 0, 2), "/", pc.utf8_slice_codeunits(name, 2, 4),
                 "/", pc.utf8_slice_codeunits(name, 4, 6), "/", name, ".jpg")


def _path_shopify(seed, row):
    a, b = _bits(seed, _PATH, row), _bits(seed, _PATH2, row)
    return _join("/s/files/1/", _number(a, 0, 10_000, 4), "/", _number(a >> np.uint64(20), 0, 10_000, 4),
                 "/products/", _slug(seed, row, _PATH3), "_", _hex(b[:, None], chars=12), ".",
                 _pick(_EXTENSIONS, a >> np.uint64(40)), "?v=", _number(b >> np.uint64(16), 1_500_000_000,
                                                                         1_700_000_000))


def _path_amazon(seed, row):
    bits = _bits(seed, _PATH, row)
    name = _join(*(_pick(_BASE62, _bits(seed, _PATH2, row, i)) for i in range(10)))
    return _join("/images/I/", _number(bits, 41, 91), name, _pick(_AMAZON_SIZES, bits >> np.uint64(8)), ".jpg")


def _path_flickr(seed, row):
    a, b = _bits(seed, _PATH, row), _bits(seed, _PATH2, row)
    return _join("/", _number(a, 1000, 66000), "/", _number(b, 10**10, 6 * 10**10), "_",
                 _hex(_words(seed, _PATH3, row, 1), chars=10), _pick(_FLICKR_SIZES, a >> np.uint64(32)), ".jpg")


def _path_wikimedia(seed, row):
    bits = _bits(seed, _PATH, row)
    digest = _hex(_words(seed, _PATH2, row, 1), chars=2)
    words = pa.array([w.capitalize() for w in _WORDS])
    title = _join(_pick(words, bits), "_", _pick(pa.array(_WORDS), bits >> np.uint64(12)), "_",
                  _number(bits >> np.uint64(24), 1850, 2024), "_", _number(bits >> np.uint64(36), 1, 10**6), ".jpg")
    thumb = _join("/wikipedia/commons/thumb/", pc.utf8_slice_codeunits(digest, 0, 1), "/", digest, "/", title, "/",
                  _number(bits >> np.uint64(56), 2, 13), "00px-", title)
    full = _join("/wikipedia/commons/", pc.utf8_slice_codeunits(digest, 0, 1), "/", digest, "/", title)
    return pc.if_else(pa.array(bits % np.uint64(3) == 0), full, thumb)


def _path_wordpress(seed, row):
    bits = _bits(seed, _PATH, row)
    return _join("/wp-content/uploads/", _number(bits, 2009, 2024), "/", _number(bits >> np.uint64(8), 1, 13, 2),
                 "/", _slug(seed, row, _PATH2), "-", _hex(_words(seed, _PATH3, row, 1), chars=8),
                 _pick(_WP_SUFFIXES, bits >> np.uint64(16)), ".", _pick(_EXTENSIONS, bits >> np.uint64(24)))


def _path_hexname(seed, row):
    bits = _bits(seed, _PATH, row)
    prefixes = pa.array(["/images/", "/i/", "/img/", "/photos/", "/uploads/", "/s/", "/files/"])
    return _join(_pick(prefixes, bits), _hex(_words(seed, _PATH2, row, 1), chars=16), ".",
                 _pick(_EXTENSIONS, bits >> np.uint64(8)))


def _path_catalog(seed, row):
    bits = _bits(seed, _PATH, row)
    name = _hex(_words(seed, _PATH2, row, 1), chars=12)
    return _join("/media/catalog/product/cache/", _number(bits, 1, 10), "/image/",
                 _number(bits >> np.uint64(8), 3, 13), "00x/", _hex(_words(seed, _PATH3, row, 2)), "/",
                 pc.utf8_slice_codeunits(name, 0, 1), "/", pc.utf8_slice_codeunits(name, 1, 2), "/",
                 _slug(seed, row, _PATH3), "-", name, ".jpg")


def _path_thumbs(seed, row):
    bits = _bits(seed, _PATH, row)
    return _join("/", _pick(pa.array(["b", "z", "t", "photos", "images", "thumbs"]), bits), "/",
                 _number(bits >> np.uint64(8), 1, 100), "/", _slug(seed, row, _PATH2), "-",
                 _number(bits >> np.uint64(16), 10**7, 10**9), ".", _pick(_EXTENSIONS, bits >> np.uint64(48)))


def _path_query(seed, row):
    bits = _bits(seed, _PATH, row)
    return _join("/photo-", _number(bits, 10**12, 2 * 10**12), "-", _hex(_words(seed, _PATH2, row, 1), chars=12),
                 "?w=", _number(bits >> np.uint64(40), 3, 21), "00&q=80&fm=jpg")


_PATHS = {
    _PINIMG: _path_pinimg, _SHOPIFY: _path_shopify, _AMAZON: _path_amazon, _FLICKR: _path_flickr,
    _WIKIMEDIA: _path_wikimedia, _WORDPRESS: _path_wordpress, _HEXNAME: _path_hexname, _CATALOG: _path_catalog,
    _THUMBS: _path_thumbs, _QUERY: _path_query,
}


def _captions(seed: int, row: np.ndarray) -> pa.Array:
    bits = _bits(seed, _CAPTION, row)
    words = pa.array(_WORDS)
    return _join(_pick(_STYLES, bits), _pick(words, bits >> np.uint64(8)), " ", _pick(words, bits >> np.uint64(20)),
                 " ", _pick(words, bits >> np.uint64(32)), _pick(_SUFFIXES, bits >> np.uint64(44)))


def _original_sizes(seed: int, row: np.ndarray, failed: np.ndarray) -> tuple[pa.Array, pa.Array]:
    bits = _bits(seed, _SIZE, row)
    width = 150 + (bits % np.uint64(2850)).astype(np.int64)
    aspect = _ASPECTS[(bits >> np.uint64(16)) % np.uint64(len(_ASPECTS))]
    height = np.maximum(1, np.rint(width * aspect)).astype(np.int32)
    return pa.array(width.astype(np.int32), mask=failed), pa.array(height, mask=failed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="folder to write NNNNN.parquet shards into")
    parser.add_argument("--shards", type=int, default=1000)
    parser.add_argument("--rows-per-shard", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    write_release(args.out, shards=args.shards, rows_per_shard=args.rows_per_shard, seed=args.seed)
    elapsed = time.perf_counter() - start
    size = sum(p.stat().st_size for p in Path(args.out).glob("*.parquet"))
    rows = args.shards * args.rows_per_shard
    print(f"{rows:,} rows in {args.shards:,} shards written to {args.out} in {elapsed:.1f} s "
          f"({rows / elapsed:,.0f} rows/s), {size / 1e9:.2f} GB on disk")


if __name__ == "__main__":
    main()
