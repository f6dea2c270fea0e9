import pytest

from apps.core.errors import TakedownError
from apps.core.identifiers import parse_identifiers_csv


def test_it_reads_every_kind_and_normalises():
    parsed = parse_identifiers_csv(
        "kind,value\n"
        "url,https://EXAMPLE.com:443/a.jpg\n"
        "KEY,000010005\n"
        "md5,D41D8CD98F00B204E9800998ECF8427E\n"
        "sha1," + "a" * 40 + "\n"
        "sha256," + "b" * 64 + "\n"
        "pdq," + "c" * 64 + "\n"
    )
    assert [(p.line, p.kind, p.value) for p in parsed] == [
        (2, "url", "https://example.com/a.jpg"),
        (3, "key", "000010005"),
        (4, "md5", "d41d8cd98f00b204e9800998ecf8427e"),
        (5, "sha1", "a" * 40),
        (6, "sha256", "b" * 64),
        (7, "pdq", "c" * 64),
    ]


def test_it_accepts_a_bom_blank_lines_extra_columns_and_repeats():
    data = "\ufeffvalue,kind,note\n\nhttps://e.com/x,url,first\nhttps://E.com/x,url,same once normalised\n".encode()
    parsed = parse_identifiers_csv(data)
    assert [(p.line, p.value) for p in parsed] == [(3, "https://e.com/x")]


def test_it_names_every_bad_line_and_keeps_nothing():
    with pytest.raises(TakedownError) as caught:
        parse_identifiers_csv("kind,value\nmd5,xyz\nurl,https://ok.example/\nphotodna,abc\nsha256\n",
                              source_name="hotline.csv")
    error = caught.value
    assert error.message == "hotline.csv: 3 bad lines, nothing was imported"
    assert error.details == [
        "line 2: md5 'xyz' is not hexadecimal",
        "line 4: unknown kind 'photodna' (expected one of: url, key, md5, sha1, sha256, pdq, domain, url_prefix)",
        "line 5: 1 field, but the header names 2",
    ]


@pytest.mark.parametrize("data, message", [
    ("", "empty file"),
    ("url,value\n", "header must name the columns kind and value"),
    ("kind,value\n\n", "no identifiers after the header"),
    (b"kind,value\nurl,\xff\n", "not UTF-8 text"),
])
def test_it_refuses_files_without_identifiers(data, message):
    with pytest.raises(TakedownError, match=message):
        parse_identifiers_csv(data)


def test_it_caps_the_error_list():
    data = "kind,value\n" + "md5,zz\n" * 70
    with pytest.raises(TakedownError) as caught:
        parse_identifiers_csv(data)
    assert len(caught.value.details) == 51
    assert caught.value.details[-1] == "... and 20 more"
