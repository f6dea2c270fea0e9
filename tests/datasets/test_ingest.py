import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from apps.datasets.ingest import member_key, unpad


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


CANONICAL_SAMPLES = [
    "https://example.com/a.jpg", "HTTPS://example.com/a.jpg", "https://Example.com/a", "https://e.com",
    "https://e.com/a?", "https://e.com/a?b=1", "https://e.com/a#f", "https://e.com:443/a", "http://e.com:80/a",
    "https://e.com./a", "https://u@e.com/a", "https://e.com/%7Euser", "https://e.com/%2f", "https://e.com/%2F",
    "https://e.com/a b", "https://e.com/caf\u00e9", "https://b\u00fccher.example/x", "https://[::1]/x",
    "https://e.com/a%", "https://e.com/%e2%80%99", "https://e.com/%E2%80%99", " https://e.com/a", "ftp://e.com/a",
    "https://e_x.com/a", "https://e.com//a", "https://e.com/a\\b", "not a url", "",
]


def _canonical_flags(urls):
    import duckdb
    import pyarrow as pa

    from apps.datasets.ingest import CANONICAL_URL

    table = pa.table({"u": urls})
    return duckdb.connect().from_arrow(table).project(f"regexp_full_match(u, '{CANONICAL_URL}')").fetchall()


@pytest.mark.parametrize("url", CANONICAL_SAMPLES)
def test_urls_the_fast_path_calls_canonical_are_left_unchanged_by_normalise_url(url):
    from apps.core.identifiers import normalise_url

    [(canonical,)] = _canonical_flags([url])
    if canonical:
        assert normalise_url(url) == url


_PIECES = st.sampled_from([*"aZ0-._~/?#%:@[]! \u00e9", "%2F", "%7e", "%41", "%C3%A9", "http", "://"])


@given(st.lists(_PIECES, max_size=20).map(lambda pieces: "https://e.com/" + "".join(pieces)))
def test_the_fast_path_agrees_with_normalise_url(url):
    from apps.core.identifiers import normalise_url

    [(canonical,)] = _canonical_flags([url])
    if canonical:
        assert normalise_url(url) == url


def test_the_fingerprinter_normalises_and_fingerprints_as_the_query_side_does():
    import pyarrow as pa

    from apps.core.identifiers import normalise_url
    from apps.datasets.ingest import Fingerprinter
    from apps.matching import fingerprints

    urls, url_fps, key_fps = Fingerprinter().urls_and_keys(
        pa.array(CANONICAL_SAMPLES, pa.string()), pa.array([str(i) for i in range(len(CANONICAL_SAMPLES))]))
    expected = [normalise_url(u) for u in CANONICAL_SAMPLES]
    assert urls.to_pylist() == expected
    assert url_fps[:-1].tolist() == fingerprints.strings(expected[:-1]).tolist()
    assert url_fps[-1] == 0  # no URL, no fingerprint
    assert key_fps.tolist() == fingerprints.strings([str(i) for i in range(len(CANONICAL_SAMPLES))]).tolist()


def test_it_fingerprints_each_urls_host_and_lists_the_distinct_hosts():
    import pyarrow as pa

    from apps.datasets.ingest import Fingerprinter
    from apps.matching import fingerprints

    urls = pa.array(["https://a.b.example.co.uk/x", "http://user@10.0.0.1/y", "https://[::1]/z", "",
                     "https://e.com/", "https://e.com/other"])
    host_fps, hosts = Fingerprinter().hosts(urls)
    assert sorted(hosts) == sorted(["a.b.example.co.uk", "10.0.0.1", "[::1]", "e.com"])
    expected = fingerprints.strings(["a.b.example.co.uk", "10.0.0.1", "[::1]", "e.com", "e.com"])
    assert host_fps.tolist() == [*expected[:3].tolist(), 0, *expected[3:].tolist()]
