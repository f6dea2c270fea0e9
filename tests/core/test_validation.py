"""The edge: control characters, lone surrogates, over-long fields, odd rows and impossible dates are refused
with a message naming the field and line, by the identifiers, the one CSV reader, the commands and the forms."""
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management.base import CommandError
from django.utils import timezone

from apps.core import identifiers, validation
from apps.core.actors import Actor
from apps.core.errors import TakedownError
from apps.core.identifiers import InvalidIdentifier, normalise, normalise_url, parse_identifiers_csv
from apps.removals.models import HotlineReport, RemovalRequest
from apps.removals.services import hotline_report_record, request_create

MD5 = "d41d8cd98f00b204e9800998ecf8427e"


@pytest.mark.parametrize("kind, raw, where", [
    ("url", "https://example.com/a\x00b\x07c.jpg", "U+0000 NUL) at character 22"),
    ("url", "\x00https://example.com/a.jpg", "U+0000 NUL) at character 1"),
    ("url", "https://example.com/a\x07.jpg", "U+0007 BEL) at character 22"),
    ("url", "https://example.com/\x85a.jpg", "U+0085) at character 21"),
    ("url", "https://exa\tmple.com/a.jpg", "U+0009 tab) at character 12"),
    ("key", "000010005\x00", "U+0000 NUL) at character 10"),
    ("key", "00001\udc800005", "lone surrogate (U+DC80, half of a character) at character 6"),
    ("md5", f"{MD5}\x1b", "U+001B escape) at character 33"),
])
def test_an_identifier_with_a_control_character_or_lone_surrogate_is_refused_not_cleaned(kind, raw, where):
    with pytest.raises(InvalidIdentifier) as caught:
        normalise(kind, raw)
    assert str(caught.value).startswith(f"{kind} value contains ")
    assert str(caught.value).endswith(where)


def test_a_dataset_url_with_a_control_character_is_kept_as_it_is():
    # urlsplit drops leading C0 characters and every tab or newline: that would be another URL.
    assert normalise_url("\x00HTTPS://Example.COM/a") == "\x00HTTPS://Example.COM/a"
    assert normalise_url("https://Example.COM/a\nb") == "https://Example.COM/a\nb"
    assert normalise_url("HTTPS://Example.COM/a") == "https://example.com/a"


def test_json_nested_too_deep_or_with_refused_strings_is_named_by_its_place():
    validation.check_json([[[["ok"]]]], where="")
    nested = "x"
    for _ in range(validation.MAX_JSON_DEPTH):
        nested = [nested]
    validation.check_json(nested)
    with pytest.raises(validation.InvalidInput, match=r"^body(\[0\]){32}: JSON nested deeper than 32 levels$"):
        validation.check_json([nested])
    with pytest.raises(validation.InvalidInput) as caught:
        validation.check_json({"identifiers": [{"kind": "url", "value": "ok"}, {"kind": "url", "value": "a\ud800"}]},
                              where="")
    assert str(caught.value) == ("identifiers[1].value: contains a lone surrogate (U+D800, half of a character) "
                                 "at character 2")
    with pytest.raises(validation.InvalidInput, match=r"notes: contains a control character \(U\+0007 BEL\)"):
        validation.check_json({"notes": "line one\nline\ttwo\x07"}, where="")
    validation.check_json({"notes": "line one\r\nline\ttwo"})  # free text: tab and line breaks are fine


@pytest.mark.parametrize("text, problem", [
    ("kind,value\nmd5,d41d8cd98f00b204e9800998ecf8427e,extra\n", "line 2: 3 fields, but the header names only 2"),
    ("kind,value,note\nmd5,d41d8cd98f00b204e9800998ecf8427e\n", "line 2: 2 fields, but the header names 3"),
    ("kind,value\nmd5,d41d8cd98f00b204e9800998ecf8427e\x00\n",
     "line 2: column value: contains a control character (U+0000 NUL) at character 33"),
    ("kind,value,note\nmd5,d41d8cd98f00b204e9800998ecf8427e,ok\x07\n",
     "line 2: column note: contains a control character (U+0007 BEL) at character 3"),
    ('kind,value\nurl,"https://example.com/a\nb"\n',
     "line 3: column value: contains a control character (U+000A line feed) at character 22"),
])
def test_the_csv_reader_names_each_odd_row_and_refused_field(text, problem):
    with pytest.raises(TakedownError) as caught:
        parse_identifiers_csv(text, source_name="list.csv")
    assert caught.value.message == "list.csv: 1 bad line, nothing was imported"
    assert caught.value.details == [problem]


def test_a_control_character_in_the_header_is_named():
    with pytest.raises(TakedownError, match=r"list.csv line 1 \(the header\): field 2: contains a control"):
        parse_identifiers_csv("kind,\x00value\nmd5,x\n", source_name="list.csv")


@pytest.mark.parametrize("body, message", [
    ("kind,value\nmd5,d41d8cd98f00b204e9800998ecf8427e\nmd5," + "a" * (validation.MAX_FIELD_CHARS + 1) + "\n",
     "removals.csv line 3: a field is longer than 131,072 characters, nothing was imported"),
    ("kind,value\nmd5,d41d8cd98f00b204e9800998ecf8427e\nmd5,d41d8cd98f00b204e9800998ecf8427e,extra\n",
     "removals.csv: 1 bad line, nothing was imported\n  line 3: 3 fields, but the header names only 2"),
    ("kind,value\nurl,https://example.com/a\x00.jpg\n",
     "removals.csv: 1 bad line, nothing was imported\n  line 2: column value: contains a control character "
     "(U+0000 NUL) at character 22"),
])
@pytest.mark.parametrize("command", ["import_removals", "match"])
def test_the_commands_name_the_line_of_a_bad_file_and_write_nothing(run_command, release, tmp_path, body, message,
                                                                    command):
    path = tmp_path / "removals.csv"
    path.write_text(body, encoding="utf-8")
    args = (["import_removals", str(path), "--category", "other"] if command == "import_removals" else
            ["match", "demo", "2026-11", str(path), "--out", str(tmp_path / "out.parquet")])
    with pytest.raises(CommandError) as caught:
        run_command(*args)
    assert str(caught.value) == message
    assert not RemovalRequest.objects.exists()
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize("when, problem", [
    (lambda: datetime(2999, 1, 1, tzinfo=UTC), "is in the future"),
    # Taken when the test runs, not when it is collected (a parallel run may start it minutes later).
    (lambda: timezone.now() + validation.MAX_CLOCK_SKEW + timedelta(minutes=1), "is in the future"),
    (lambda: datetime(1989, 12, 31, tzinfo=UTC), "is before 1990-01-01"),
])
def test_moments_outside_the_sane_window_are_refused_by_the_services(db, when, problem):
    moment = when()
    actor = Actor(label="cli:tester")
    ids = parse_identifiers_csv(f"kind,value\nmd5,{MD5}\n")
    with pytest.raises(TakedownError, match=f"received_at: .* {problem}"):
        request_create(category="csam", identifiers=ids, actor=actor, received_at=moment)
    with pytest.raises(TakedownError, match=f"hotline reported_at: .* {problem}"):
        request_create(category="csam", identifiers=ids, actor=actor,
                       hotline={"hotline": "iwf", "report_id": "IWF-1", "reported_at": moment})
    assert not RemovalRequest.objects.exists()  # nothing half-written
    request = request_create(category="csam", identifiers=ids, actor=actor)
    with pytest.raises(TakedownError, match=problem):
        hotline_report_record(request=request, actor=actor, hotline="iwf", report_id="IWF-1", reported_at=moment)
    assert not HotlineReport.objects.exists()
    # A little clock skew is fine.
    hotline_report_record(request=request, actor=actor, hotline="iwf", report_id="IWF-1",
                          reported_at=timezone.now() + timedelta(minutes=1))


def test_every_kind_refuses_control_characters():
    for kind in identifiers.KINDS:
        with pytest.raises(InvalidIdentifier, match="U\\+0000 NUL"):
            normalise(kind, "a\x00")


def test_the_public_report_form_names_a_control_character_and_logs_nothing(client, db):
    from urllib.parse import urlencode

    from django.core.cache import cache

    cache.clear()
    response = client.post("/report/", urlencode({
        "category": "other", "requester_name": "Ada\x07 Artist", "requester_email": "ada@example.org",
        "details": "My photo\r\n\tis in it.", "identifiers": "https://example.com/a.jpg\x85b",
    }), content_type="application/x-www-form-urlencoded")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Your name contains a control character (U+0007 BEL) at character 4." in html
    # The textarea is free text, but C1 (which str.splitlines would split the line at) is refused.
    assert "What should be removed contains a control character (U+0085) at character 26." in html
    assert "What is the problem?" in html and "What is the problem? contains" not in html
    assert not RemovalRequest.objects.exists()


def test_an_admin_form_names_a_control_character_and_adds_nothing(client, staff_with):
    from django.urls import reverse

    from apps.intake.models import TrustedFlagger

    client.force_login(staff_with("boss", "admin"))
    response = client.post(reverse("admin:intake_trustedflagger_add"), {
        "name": "Research\x1blab", "kind": "research", "contact_email": "lab@example.org"})
    assert response.status_code == 200
    assert "Name contains a control character (U+001B escape) at character 9." in response.content.decode()
    assert not TrustedFlagger.objects.exists()
