import re

import numpy as np
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from apps.core.identifiers import normalise_url
from apps.datasets.ingest import member_key, unpad
from apps.index import fingerprints, kernels


def _picture(width, height, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 200, (height, width, 3), dtype=np.uint8))


def _bordered(original_size, picture, side=256):
    square = Image.new("RGB", (side, side), (255, 255, 255))
    left, top = (side - picture.width) // 2, (side - picture.height) // 2
    square.paste(picture, (left, top))
    return square, (left, top, left + picture.width, top + picture.height)


def test_it_cuts_img2dataset_white_padding_using_the_original_size():
    inner = _picture(256, 160)
    square, box = _bordered((640, 400), inner)
    assert unpad(square, (640, 400)).size == (256, 160)
    assert unpad(square, (640, 400)).getbbox() == inner.getbbox()
    assert box == (0, 48, 256, 208)


def test_it_leaves_unpadded_images_alone():
    cropped = _picture(256, 256)  # center_crop output: the square is all picture
    assert unpad(cropped, (640, 400)) is cropped
    assert unpad(cropped, None) is cropped
    assert unpad(cropped, (500, 500)) is cropped
    keep_ratio = _picture(256, 160)  # keep_ratio output is not square
    assert unpad(keep_ratio, (640, 400)) is keep_ratio


def test_it_keeps_a_white_background_picture_whole_when_the_strips_are_not_all_white():
    inner = Image.new("RGB", (256, 160), (255, 255, 255))
    square = Image.new("RGB", (256, 256), (255, 255, 255))
    square.paste(_picture(256, 256), (0, 0))  # picture content reaching into where padding would be
    square.paste(inner, (0, 48))
    assert unpad(square, (640, 400)) is square


def test_it_reads_webdataset_member_keys():
    assert member_key("000010005.jpg") == ("000010005", ".jpg")
    assert member_key("shard/000010005.JSON") == ("000010005", ".json")
    assert member_key("a.b.tar.gz") == ("a", ".b.tar.gz")
    assert member_key("README") == ("README", "")


# What apps.index.kernels.canonical_urls must accept: the URLs normalise_url returns unchanged
# (lower-case http(s), a plain lower-case host, a path, no fragment, space or control character,
# only upper-case escapes of reserved bytes, no bare final "?"), written as a regular expression.
_KEPT_ESCAPE = r"%(?:[01][0-9A-F]|2[0-9A-C]|2F|3[A-F]|40|5[B-E]|60|7[B-D]|7F|[89A-F][0-9A-F])"
CANONICAL_URL = re.compile(
    r"https?://[a-z0-9-]+(?:\.[a-z0-9-]+)*/(?:[^\x00-\x20#%\x7f]|" + _KEPT_ESCAPE + r")*(?:[^?\x00-\x20#%\x7f]|"
    + _KEPT_ESCAPE + r")|https?://[a-z0-9-]+(?:\.[a-z0-9-]+)*/"
)
CANONICAL_SAMPLES = [
    "https://example.com/a.jpg", "HTTPS://example.com/a.jpg", "https://Example.com/a", "https://e.com",
    "https://e.com/a?", "https://e.com/a?b=1", "https://e.com/a#f", "https://e.com:443/a", "http://e.com:80/a",
    "https://e.com./a", "https://u@e.com/a", "https://e.com/%7Euser", "https://e.com/%2f", "https://e.com/%2F",
    "https://e.com/a b", "https://e.com/caf\u00e9", "https://b\u00fccher.example/x", "https://[::1]/x",
    "https://e.com/a%", "https://e.com/%e2%80%99", "https://e.com/%E2%80%99", " https://e.com/a", "ftp://e.com/a",
    "https://e_x.com/a", "https://e.com//a", "https://e.com/a\\b", "https://e..com/a", "https://.e.com/a",
    "https://e.com/?", "https://e.com/%3F", "not a url", "",
]


def _kernel_says(urls: list[str]) -> list[bool]:
    from apps.datasets.ingest import _string_buffers

    return kernels.canonical_urls(*_string_buffers(pa.array(urls, pa.string()))).tolist()


def test_the_canonical_url_check_is_the_specification():
    for url, canonical in zip(CANONICAL_SAMPLES, _kernel_says(CANONICAL_SAMPLES)):
        assert canonical == (CANONICAL_URL.fullmatch(url) is not None), url
        if canonical:
            assert normalise_url(url) == url


_PIECES = st.sampled_from([*"aZ0-._~/?#%:@[]! \u00e9\x7f\t", "%2F", "%7e", "%41", "%C3%A9", "%3F", "http", "://"])
_HOSTS = st.sampled_from(["e.com", "E.com", "a-b.c.d", "e..com", "e.com.", "e_x.com", "e.com:443", "u@e.com", "[::1]"])


@given(st.sampled_from(["https://", "http://", "HTTP://", "ftp://"]), _HOSTS,
       st.lists(_PIECES, max_size=20).map("".join))
def test_the_canonical_url_check_agrees_with_the_specification_and_normalise_url(scheme, host, tail):
    url = f"{scheme}{host}/{tail}"
    [canonical] = _kernel_says([url])
    assert canonical == (CANONICAL_URL.fullmatch(url) is not None)
    if canonical:
        assert normalise_url(url) == url


def test_the_fingerprinter_normalises_and_fingerprints_as_the_query_side_does():
    from apps.datasets.ingest import Fingerprinter

    urls, url_fps, key_fps = Fingerprinter().urls_and_keys(
        pa.array(CANONICAL_SAMPLES, pa.string()), pa.array([str(i) for i in range(len(CANONICAL_SAMPLES))]))
    expected = [normalise_url(u) for u in CANONICAL_SAMPLES]
    assert urls.to_pylist() == expected
    assert url_fps[:-1].tolist() == fingerprints.strings(expected[:-1]).tolist()
    assert url_fps[-1] == 0  # no URL, no fingerprint
    assert key_fps.tolist() == fingerprints.strings([str(i) for i in range(len(CANONICAL_SAMPLES))]).tolist()


def test_it_fingerprints_each_urls_host_and_lists_the_distinct_hosts():
    from apps.datasets.ingest import Fingerprinter

    urls = pa.array(["https://a.b.example.co.uk/x", "http://user@10.0.0.1/y", "https://[::1]/z", "",
                     "https://e.com/", "https://e.com/other"])
    host_fps, hosts = Fingerprinter().hosts(urls)
    assert sorted(hosts) == sorted(["a.b.example.co.uk", "10.0.0.1", "[::1]", "e.com"])
    expected = fingerprints.strings(["a.b.example.co.uk", "10.0.0.1", "[::1]", "e.com", "e.com"])
    assert host_fps.tolist() == [*expected[:3].tolist(), 0, *expected[3:].tolist()]


def test_fingerprints_spread_sequential_keys_over_the_top_bits():
    fps = fingerprints.strings([f"{i:09d}" for i in range(100_000)])
    buckets = np.bincount((fps >> np.uint64(52)).astype(np.int64), minlength=4096)
    assert buckets.max() < 3 * buckets.mean()  # no bucket much fuller than the rest
