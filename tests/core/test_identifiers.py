import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.core.identifiers import InvalidIdentifier, normalise, normalise_url, parse_kind


@pytest.mark.parametrize("raw, expected", [
    ("https://Example.COM/a/B.jpg", "https://example.com/a/B.jpg"),
    ("HTTPS://example.com:443/x", "https://example.com/x"),
    ("http://example.com:80/x", "http://example.com/x"),
    ("http://example.com:8080/x", "http://example.com:8080/x"),
    ("https://example.com", "https://example.com/"),
    ("https://example.com/a#frag", "https://example.com/a"),
    ("https://example.com/%7euser/%2f%41", "https://example.com/~user/%2FA"),
    ("https://example.com/a?b=1&a=2", "https://example.com/a?b=1&a=2"),
    ("https://example.com/a/", "https://example.com/a/"),
    ("https://bücher.example/x", "https://xn--bcher-kva.example/x"),
    ("https://user@example.com/x", "https://user@example.com/x"),
    ("https://[2001:db8::1]:443/x", "https://[2001:db8::1]/x"),
    ("  https://example.com/x  ", "https://example.com/x"),
])
def test_it_normalises_urls_conservatively(raw, expected):
    assert normalise_url(raw) == expected


def test_it_keeps_path_case_and_scheme_apart():
    assert normalise_url("https://e.com/A") != normalise_url("https://e.com/a")
    assert normalise_url("http://e.com/a") != normalise_url("https://e.com/a")


@given(st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=200))
def test_it_never_raises_on_dataset_urls_and_is_idempotent(raw):
    once = normalise_url(raw)
    assert normalise_url(once) == once


@pytest.mark.parametrize("kind, raw, expected", [
    ("md5", " D41D8CD98F00B204E9800998ECF8427E ", "d41d8cd98f00b204e9800998ecf8427e"),
    ("sha1", "0x" + "A" * 40, "a" * 40),
    ("sha256", "F" * 64, "f" * 64),
    ("pdq", "d8f8f0cce0f4a84f0e370a22028f67f0b36e2ed596623e1d33e6b39c4e9c9b22",
     "d8f8f0cce0f4a84f0e370a22028f67f0b36e2ed596623e1d33e6b39c4e9c9b22"),
    ("key", "000010005", "000010005"),
])
def test_it_normalises_values(kind, raw, expected):
    assert normalise(kind, raw) == expected


@pytest.mark.parametrize("kind, raw, message", [
    ("md5", "abc", "md5 must be 32 hex characters, got 3"),
    ("sha256", "g" * 64, "is not hexadecimal"),
    ("pdq", "a" * 63, "pdq must be 64 hex characters, got 63"),
    ("url", "ftp://example.com/x", "must start with http:// or https://"),
    ("url", "https:///nohost", "has no host"),
    ("url", "https://example.com/a b", "contains whitespace"),
    ("url", "https://example.com:99999/", "malformed"),
    ("key", "a key", "is not a sample key"),
    ("key", "   ", "empty key value"),
])
def test_it_rejects_bad_values_saying_why(kind, raw, message):
    with pytest.raises(InvalidIdentifier, match=message):
        normalise(kind, raw)


def test_it_parses_kinds_leniently_but_rejects_unknown_ones():
    assert parse_kind(" SHA-256 ") == "sha256"
    assert parse_kind("URL") == "url"
    with pytest.raises(InvalidIdentifier, match="unknown kind 'photodna'"):
        parse_kind("photodna")


@pytest.mark.parametrize("raw, expected", [
    ("Example.COM", "example.com"),
    ("*.example.com.", "example.com"),
    ("bücher.example", "xn--bcher-kva.example"),
])
def test_it_normalises_domains(raw, expected):
    assert normalise("domain", raw) == expected


@pytest.mark.parametrize("raw, message", [
    ("https://example.com/", "must be a host name like example.com, not a URL"),
    ("exa mple.com", "is not a valid host name"),
    ("-bad.example", "is not a valid host name"),
])
def test_it_rejects_bad_domains(raw, message):
    with pytest.raises(InvalidIdentifier, match=message):
        normalise("domain", raw)


def test_it_normalises_url_prefixes_like_urls():
    assert normalise("url_prefix", "HTTPS://Artist.Example") == "https://artist.example/"
    assert normalise("url_prefix", "https://artist.example/Portfolio/") == "https://artist.example/Portfolio/"
    assert parse_kind("URL-Prefix") == "url_prefix"
