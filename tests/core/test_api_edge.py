"""Every API refuses bad input at the edge with a JSON 4xx that says what is wrong and where: never a 500, the
same answer on SQLite and PostgreSQL (CI runs this file there), nothing written."""
import json

import pytest
from rest_framework.test import APIClient

from apps.core.actors import Actor
from apps.core.validation import MAX_JSON_DEPTH, MAX_URL_CHARS
from apps.intake.flaggers import MAX_IDENTIFIERS, flagger_create
from apps.mirrors.models import Acknowledgement
from apps.mirrors.services import mirror_create
from apps.removals.models import HotlineReport, RemovalRequest

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
FLAGGER = "/api/v1/flagger/requests"
PREVIEW = "/api/v1/match/preview"
ACKS = "/api/v1/mirror/acks"


def _bearer(token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


@pytest.fixture
def flagger(db) -> APIClient:
    _, token = flagger_create(name="Internet Watch Foundation", kind="hotline", actor=Actor(label="cli:tester"))
    return _bearer(token)


@pytest.fixture
def mirror(release) -> APIClient:
    return _bearer(mirror_create(name="lab-copy", datasets=[release.dataset], actor=Actor.system()).token)


@pytest.fixture
def staff_api(staff) -> APIClient:
    api = APIClient()
    api.force_login(staff)
    return api


@pytest.fixture
def clients(flagger, mirror, staff_api) -> dict[str, APIClient]:
    return {FLAGGER: flagger, PREVIEW: staff_api, ACKS: mirror}


def _json_error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    return body


# ---------------------------------------------------------------- URLs


@pytest.mark.parametrize("path", [
    "/api/v1/flagger/requests/TD-%00",
    "/api/v1/flagger/requests/TD-%07X",
    "/api/v1/flagger/requests/TD-%C2%85",
])
def test_a_control_character_in_a_flagger_path_is_a_json_404_without_touching_the_database(
        flagger, path, django_assert_num_queries):
    with django_assert_num_queries(0):
        body = _json_error(flagger.get(path), 404)
    assert body["detail"].startswith("the URL path contains a control character (U+00")


@pytest.mark.parametrize("path", ["/api/v1/mirror/blocklists/demo/%00/",
                                  "/api/v1/mirror/blocklists/demo/2026-11%00/1/manifest.json",
                                  "/api/v1/mirror/datasets/demo%00/releases"])
def test_a_nul_in_a_mirror_path_is_a_json_404(mirror, path):
    body = _json_error(mirror.get(path), 404)
    assert "U+0000 NUL" in body["detail"]


def test_a_control_character_in_a_query_parameter_is_a_json_400_naming_it(flagger, mirror):
    body = _json_error(flagger.get(FLAGGER, {"reference": "IWF-1\x07"}), 400)
    assert body["detail"] == "query parameter reference: contains a control character (U+0007 BEL) at character 6"
    body = _json_error(mirror.get("/api/v1/mirror/feed", {"after": "\x00"}), 400)
    assert body["detail"].startswith("query parameter after: contains a control character (U+0000 NUL)")


def test_a_line_break_in_a_one_line_query_parameter_is_named(flagger):
    body = _json_error(flagger.get(FLAGGER, {"reference": "IWF\n1"}), 400)
    assert body["errors"] == ["reference: contains a control character (U+000A line feed) at character 4"]


@pytest.mark.parametrize("path", ["/api/v1/nothing", "/api/v1/flagger/requests/", "/api/v2/mirror/feed",
                                  "/api/v1/mirror/blocklists/demo/2026-11/x/manifest.json"])
def test_an_unknown_api_url_is_a_json_404(flagger, path):
    body = _json_error(flagger.get(path), 404)
    assert body["detail"] == f"no API endpoint at {path}"


def test_a_url_over_the_limit_is_a_414_the_schema_documents(flagger, client):
    path = "/api/v1/flagger/requests?reference=" + "R" * (MAX_URL_CHARS - 30)
    assert len(path) > MAX_URL_CHARS

    body = _json_error(flagger.get(path), 414)
    assert body["detail"] == f"the URL is {len(path):,} characters long; at most {MAX_URL_CHARS:,} are accepted"
    # Just under the limit the view answers (its reference is too long).
    assert flagger.get(path[:MAX_URL_CHARS]).status_code == 400
    page = client.get("/report/status/?t=" + "x" * MAX_URL_CHARS)
    assert page.status_code == 414 and page["Content-Type"].startswith("text/plain")
    schema = client.get("/api/schema/?format=json").json()
    operations = [op for item in schema["paths"].values() for op in item.values() if isinstance(op, dict)]
    assert operations and all(op["responses"]["414"]["content"]["application/json"]["schema"]["$ref"]
                              == "#/components/schemas/Error" for op in operations)


def test_an_unknown_url_elsewhere_is_still_the_html_page(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_an_unknown_blocklist_version_is_a_404(mirror):
    body = _json_error(mirror.get("/api/v1/mirror/blocklists/demo/2026-11/99999999999999999999/manifest.json"), 404)
    assert "has no blocklist version 99999999999999999999" in body["detail"]
    body = _json_error(mirror.post(ACKS, {"dataset": "demo", "release": "2026-11", "version": 7,
                                          "status": "applied"}, format="json"), 404)
    assert body["detail"] == "no blocklist version 7 of demo/2026-11"


# ---------------------------------------------------------------- JSON bodies


@pytest.mark.parametrize("endpoint", [FLAGGER, PREVIEW, ACKS])
def test_json_nested_100000_deep_is_a_400_naming_the_limit(clients, endpoint):
    deep = "[" * 100_000 + "]" * 100_000
    body = _json_error(clients[endpoint].post(endpoint, deep, content_type="application/json"), 400)
    assert body["detail"] == f"JSON body: nested deeper than {MAX_JSON_DEPTH} levels"


@pytest.mark.parametrize("endpoint", [FLAGGER, PREVIEW, ACKS])
def test_json_just_past_the_depth_limit_is_a_400_naming_where(clients, endpoint):
    deep = {"dataset": "demo", "identifiers": [{"kind": "md5", "value": MD5}], "x": "y"}
    value = deep
    for _ in range(MAX_JSON_DEPTH):
        value["x"] = {"x": "y"}
        value = value["x"]
    body = _json_error(clients[endpoint].post(endpoint, deep, format="json"), 400)
    assert body["detail"].startswith("JSON body: x.x.x.")
    assert body["detail"].endswith(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")


@pytest.mark.parametrize("endpoint", [FLAGGER, PREVIEW])
@pytest.mark.parametrize("value, problem", [
    ("000010005\\udc80", "contains a lone surrogate (U+DC80, half of a character) at character 10"),
    ("https://example.com/a\\u0000b\\u0007c.jpg", "contains a control character (U+0000 NUL) at character 22"),
])
def test_a_refused_character_in_an_identifier_is_a_400_naming_it(clients, endpoint, value, problem):
    raw = ('{"category": "other", "reference": "r-1", "identifiers": [{"kind": "md5", "value": "' + MD5 + '"}, '
           '{"kind": "url", "value": "' + value + '"}]}')
    if endpoint == PREVIEW:
        raw = raw.replace('"category": "other", "reference": "r-1", ', "")
    body = _json_error(clients[endpoint].post(endpoint, raw, content_type="application/json"), 400)
    assert body["detail"] == f"JSON body: identifiers[1].value: {problem}"
    assert not RemovalRequest.objects.exists()


def test_a_control_character_in_an_ack_field_is_named(mirror):
    body = _json_error(mirror.post(ACKS, {"dataset": "de\x00mo", "release": "2026-11", "version": 1,
                                          "status": "applied"}, format="json"), 400)
    assert body["detail"] == "JSON body: dataset: contains a control character (U+0000 NUL) at character 3"
    body = _json_error(mirror.post(ACKS, {"dataset": "demo", "release": "2026\n11", "version": 1,
                                          "status": "applied"}, format="json"), 400)
    assert body["errors"] == ["release: contains a control character (U+000A line feed) at character 5"]
    assert not Acknowledgement.objects.exists()


def test_the_ack_detail_is_free_text(mirror, release, release_on_disk, operator):
    from tests.support.removals import approve_and_publish

    approve_and_publish(operator, [release_on_disk.data.successful()[0].key], "other")
    response = mirror.post(ACKS, {"dataset": "demo", "release": "2026-11", "version": 1, "status": "failed",
                                  "detail": "shard 3:\n\tdisk full"}, format="json")
    assert response.status_code == 201, response.json()
    assert Acknowledgement.objects.get().detail == "shard 3:\n\tdisk full"


def test_a_form_encoded_ack_is_refused_as_unsupported(mirror):
    response = mirror.post(ACKS, {"dataset": "demo", "release": "2026-11", "version": 1, "status": "applied"})
    assert _json_error(response, 415)["detail"].startswith("Unsupported media type")


# ---------------------------------------------------------------- CSV bodies


@pytest.mark.parametrize("endpoint, query", [(FLAGGER, "?category=other&reference=big"), (PREVIEW, "")])
def test_a_csv_field_over_the_limit_in_a_long_body_is_a_400_naming_the_line(clients, endpoint, query):
    # More lines than identifiers allowed: the body's rows are counted first, which once met csv's error.
    lines = ["kind,value", "md5," + "a" * (128 * 1024 + 1)] + [f"md5,{MD5}"] * MAX_IDENTIFIERS
    response = clients[endpoint].post(endpoint + query, "\n".join(lines), content_type="text/csv")
    body = _json_error(response, 400)
    assert body["detail"] == "CSV body line 2: a field is longer than 131,072 characters, nothing was imported"
    assert not RemovalRequest.objects.exists()


@pytest.mark.parametrize("csv_body, problem", [
    (f"kind,value\nmd5,{MD5},extra\n", "line 2: 3 fields, but the header names only 2"),
    (f"kind,value,note\nmd5,{MD5}\n", "line 2: 2 fields, but the header names 3"),
    ("kind,value\nurl,https://example.com/a\x00b\x07c.jpg\n",
     "line 2: column value: contains a control character (U+0000 NUL) at character 22"),
])
def test_a_csv_row_with_odd_fields_is_named(flagger, csv_body, problem):
    response = flagger.post(f"{FLAGGER}?category=other&reference=csv-1", csv_body, content_type="text/csv")
    assert _json_error(response, 400)["errors"] == [problem]
    assert not RemovalRequest.objects.exists()


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize("reported_at, problem", [
    ("2999-01-01T00:00:00Z", "2999-01-01T00:00:00+00:00 is in the future"),
    ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00+00:00 is before 1990-01-01"),
])
def test_a_hotline_report_dated_outside_the_sane_window_is_refused(flagger, reported_at, problem):
    submission = {"category": "csam", "reference": "IWF-9", "identifiers": [{"kind": "md5", "value": MD5}],
                  "hotline": {"hotline": "iwf", "report_id": "IWF-9", "reported_at": reported_at}}
    body = _json_error(flagger.post(FLAGGER, submission, format="json"), 400)
    assert body["errors"] == [f"hotline.reported_at: {problem}"]
    response = flagger.post(f"{FLAGGER}?category=csam&reference=IWF-9&hotline=iwf&hotline_report_id=IWF-9"
                            f"&hotline_reported_at={reported_at}", f"kind,value\nmd5,{MD5}\n", content_type="text/csv")
    assert _json_error(response, 400)["errors"] == [f"hotline.reported_at: {problem}"]
    assert not RemovalRequest.objects.exists() and not HotlineReport.objects.exists()


def test_every_4xx_of_a_serializer_carries_detail_and_errors(mirror):
    response = mirror.post(ACKS, json.dumps({"dataset": "demo"}), content_type="application/json")
    body = _json_error(response, 400)
    assert body["detail"] == "invalid input (3 problems)"
    assert body["errors"] == ["release: This field is required.", "version: This field is required.",
                              "status: This field is required."]
