import base64
import json

import pyarrow.parquet as pq
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.core.api.bodies import CSVParser, JSONBodyParser
from apps.core.identifiers import normalise
from apps.datasets import synthetic
from apps.matching.api import serializers as s
from apps.matching.models import Match
from apps.removals.models import Identifier, RemovalRequest
from tests.support.bodies import kind_value_csv as _csv

URL = "/api/v1/match/preview"
PASSWORD = "correct horse battery"


@pytest.fixture
def api(staff) -> APIClient:
    client = APIClient()
    client.force_login(staff)
    return client


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _items(removals) -> list[dict]:
    return [{"kind": r.kind, "value": r.value} for r in removals]


def _keys_by_index(body) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for match in body["matches"]:
        found.setdefault(match["index"], set()).add(match["key"])
    return found


def test_staff_preview_hits_what_every_kind_of_identifier_should(api, release, release_on_disk):
    expected = synthetic.make_removals(release_on_disk.data, seed=3, n_unmatched=3)
    assert {"url", "key", "md5", "sha256", "pdq"} <= {e.kind for e in expected}

    response = api.post(URL, {"identifiers": _items(expected)}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == set(s.PreviewSerializer().fields)
    assert body["identifiers"] == len(expected)
    assert body["allow_listed"] == []
    assert body["releases_searched"] == [{"dataset": "demo", "release": "2026-11"}]
    found = _keys_by_index(body)
    for index, removal in enumerate(expected):
        assert found.get(index, set()) == set(removal.keys), (removal.kind, removal.value)
    assert [u["index"] for u in body["unmatched"]] == [i for i, e in enumerate(expected) if not e.keys]
    for match in body["matches"]:
        assert set(match) == set(s.PreviewMatchSerializer().fields)
        removal = expected[match["index"]]
        assert (match["kind"], match["value"]) == (removal.kind, normalise(removal.kind, removal.value))
        assert (match["dataset"], match["release"]) == ("demo", "2026-11")
        assert match["shard"] == release_on_disk.data.by_key(match["key"]).shard
        assert match["line"] is None and not match["expanded"] and match["via"] == ""
        if match["kind"] != "pdq":
            assert match["distance"] == 0
    order = [(m["dataset"], m["release"], m["shard"], m["key"], m["index"]) for m in body["matches"]]
    assert order == sorted(order)


def test_it_mirrors_the_match_command(api, run_command, release, release_on_disk, tmp_path):
    expected = synthetic.make_removals(release_on_disk.data, seed=5, n_unmatched=2)
    csv_path = synthetic.write_removals_csv(tmp_path / "r.csv", expected)
    run_command("match", "demo", "2026-11", str(csv_path), "--out", str(tmp_path / "m.parquet"), "--expand")
    command = {(r["shard"], r["key"], r["kind"], r["value"], r["distance"], r["expanded"], r["line"])
               for r in pq.read_table(tmp_path / "m.parquet").to_pylist()}

    response = api.post(f"{URL}?dataset=demo&release=2026-11&expand=true", csv_path.read_text(),
                        content_type="text/csv")

    assert response.status_code == 200, response.json()
    assert {(m["shard"], m["key"], m["kind"], m["value"], m["distance"], m["expanded"], m["line"])
            for m in response.json()["matches"]} == command


def test_a_csv_body_is_matched_with_its_line_numbers(api, release, release_on_disk):
    sample = release_on_disk.data.successful()[0]
    body = _csv([("key", sample.key), ("", ""), ("url", "https://nowhere.example/x.jpg"), ("KEY", sample.key)])

    response = api.post(f"{URL}?dataset=demo", body, content_type="text/csv; charset=utf-8")

    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["identifiers"] == 2  # the repeated key counts once, at its first line
    assert [(m["key"], m["index"], m["line"]) for m in data["matches"]] == [(sample.key, 0, 2)]
    assert data["unmatched"] == [{"index": 1, "kind": "url", "value": "https://nowhere.example/x.jpg", "line": 4}]


def test_a_csv_body_with_bad_lines_is_refused_naming_each_line(api, release):
    body = _csv([("url", "https://ok.example/a.jpg"), ("md5", "zz"), ("colour", "blue"), ("sha256", "ab")])

    response = api.post(URL, body, content_type="text/csv")

    assert response.status_code == 400
    data = response.json()
    assert "3 bad lines" in data["detail"]
    assert [e.split(":")[0] for e in data["errors"]] == ["line 3", "line 4", "line 5"]
    assert "unknown kind 'colour'" in data["errors"][1]


def test_a_csv_body_without_a_header_is_refused(api, release):
    response = api.post(URL, "url,https://ok.example/a.jpg\n", content_type="text/csv")
    assert response.status_code == 400
    assert "header must name the columns kind and value" in response.json()["detail"]
    assert api.post(URL, "", content_type="text/csv").json()["detail"] == (
        "CSV body: empty file (expected a header line 'kind,value')")


def test_bad_json_identifiers_are_refused_naming_each_index(api, release, release_on_disk):
    sample = release_on_disk.data.successful()[0]
    identifiers = [
        {"kind": "key", "value": sample.key},
        {"kind": "md5", "value": "not hex"},
        "url,https://a.example/",
        {"kind": "colour", "value": "blue"},
        {"kind": "url", "value": "ftp://a.example/x"},
        {"kind": "pdq"},
    ]

    response = api.post(URL, {"identifiers": identifiers}, format="json")

    assert response.status_code == 400
    data = response.json()
    assert data["detail"] == "identifiers: 5 bad identifiers, nothing was matched"
    assert [e.split(":")[0] for e in data["errors"]] == ["index 1", "index 2", "index 3", "index 4", "index 5"]
    assert "is not hexadecimal" in data["errors"][0]
    assert "unknown kind 'colour'" in data["errors"][2]
    assert "must start with http:// or https://" in data["errors"][3]


def test_it_reports_at_most_50_bad_identifiers(api, release):
    response = api.post(URL, {"identifiers": [{"kind": "md5", "value": "x"}] * 60}, format="json")
    errors = response.json()["errors"]
    assert len(errors) == 51 and errors[-1] == "... and 10 more"


@pytest.mark.parametrize("body, message", [
    ({}, "identifiers: this field is required"),
    ({"identifiers": []}, "identifiers: the list is empty"),
    ({"identifiers": {"kind": "key", "value": "1"}}, "identifiers: expected a list"),
    ([{"kind": "key", "value": "1"}], "the JSON body must be an object"),
    ({"identifiers": [], "threshhold": 40}, "unknown field threshhold"),
])
def test_malformed_json_bodies_are_refused(api, release, body, message):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_options_are_validated(api, release):
    one = [{"kind": "key", "value": "1"}]
    response = api.post(URL, {"identifiers": one, "threshold": 257}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == ["threshold: Ensure this value is less than or equal to 64."]
    response = api.post(f"{URL}?threshold=-1", "kind,value\nkey,1\n", content_type="text/csv")
    assert response.json()["errors"] == ["threshold: Ensure this value is greater than or equal to 0."]
    response = api.post(URL, {"identifiers": one, "release": "2026-11"}, format="json")
    assert response.json()["errors"] == ["release: a release needs its dataset: give dataset too"]
    # Query parameters are for CSV bodies: with JSON they would be silently ignored, so they are refused.
    response = api.post(f"{URL}?dataset=demo", {"identifiers": one}, format="json")
    assert response.status_code == 400
    assert "only read with a text/csv body" in response.json()["detail"]
    response = api.post(f"{URL}?datset=demo", "kind,value\nkey,1\n", content_type="text/csv")
    assert response.json()["detail"].startswith("unknown query parameter datset")


def test_other_body_types_are_refused(api, release):
    response = api.post(URL, "key=1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415


def test_unknown_datasets_and_releases_are_named(api, release):
    one = [{"kind": "key", "value": "1"}]
    response = api.post(URL, {"identifiers": one, "dataset": "demo", "release": "1999"}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == "dataset 'demo' has no release '1999' (known: 2026-11)"
    response = api.post(URL, {"identifiers": one, "dataset": "nope"}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("unknown dataset 'nope'")
    response = api.post(f"{URL}?dataset=nope&release=1999", "kind,value\nkey,1\n", content_type="text/csv")
    assert response.json()["detail"].startswith("unknown dataset 'nope'")


def test_a_release_that_is_not_ready_is_refused(api, release):
    release.status = release.Status.INDEXING
    release.save(update_fields=["status"])
    one = [{"kind": "key", "value": "1"}]
    response = api.post(URL, {"identifiers": one, "dataset": "demo", "release": "2026-11"}, format="json")
    assert response.status_code == 409
    assert response.json()["detail"].startswith("demo/2026-11 is still indexing (3 of 3 shards): matching it now "
                                                "would miss samples")
    # Without a release named, only ready ones are searched, and the response says which, and which were not.
    response = api.post(URL, {"identifiers": one}, format="json")
    assert response.status_code == 200
    assert response.json()["releases_searched"] == []
    assert response.json()["releases_pending"] == [
        {"dataset": "demo", "release": "2026-11", "status": "indexing", "state": "indexing, 3 of 3 shards"}]


def test_the_release_filter_searches_only_what_is_asked(api, release, release_on_disk, operator):
    from apps.datasets.services import release_import

    release_import(dataset="demo", release="copy", path=release_on_disk.path, actor=operator)
    sample = release_on_disk.data.successful()[0]
    one = [{"kind": "key", "value": sample.key}]

    everywhere = api.post(URL, {"identifiers": one}, format="json").json()
    assert [(m["release"], m["key"]) for m in everywhere["matches"]] == [("2026-11", sample.key), ("copy", sample.key)]
    assert everywhere["releases_searched"] == [{"dataset": "demo", "release": "2026-11"},
                                               {"dataset": "demo", "release": "copy"}]

    only = api.post(URL, {"identifiers": one, "dataset": "demo", "release": "copy"}, format="json").json()
    assert [(m["release"], m["key"]) for m in only["matches"]] == [("copy", sample.key)]
    assert only["releases_searched"] == [{"dataset": "demo", "release": "copy"}]

    dataset = api.post(URL, {"identifiers": one, "dataset": "demo"}, format="json").json()
    assert dataset["matches"] == everywhere["matches"]


def test_the_threshold_changes_pdq_hits(api, release, release_on_disk):
    sample = release_on_disk.data.successful()[2]
    flipped = f"{int(sample.member_pdq, 16) ^ ((1 << 40) - 1):064x}"  # 40 bits away
    query = {"identifiers": [{"kind": "pdq", "value": flipped}]}

    default = api.post(URL, query, format="json").json()
    assert sample.key not in {m["key"] for m in default["matches"]}
    wide = api.post(URL, {**query, "threshold": 40}, format="json").json()
    hit = [m for m in wide["matches"] if m["key"] == sample.key]
    assert len(hit) == 1 and hit[0]["distance"] == 40
    narrow = api.post(f"{URL}?threshold=40", _csv([("pdq", flipped)]), content_type="text/csv").json()
    assert narrow["matches"] == [{**m, "line": 2} for m in wide["matches"]]


def test_expand_reaches_the_same_image_at_another_url(api, release, release_on_disk):
    keys = release_on_disk.data.duplicates()["image"][0]
    sample = release_on_disk.data.by_key(keys[0])
    query = {"identifiers": [{"kind": "url", "value": sample.canonical_url}]}

    direct = api.post(URL, query, format="json").json()
    assert keys[1] not in {m["key"] for m in direct["matches"]}
    expanded = {m["key"]: m for m in api.post(URL, {**query, "expand": True}, format="json").json()["matches"]}
    assert expanded[keys[1]]["expanded"] and expanded[keys[1]]["via"] in ("sha256", "md5")
    assert not expanded[sample.key]["expanded"]


def test_repeated_json_identifiers_are_reported_at_each_index(api, release, release_on_disk):
    sample = release_on_disk.data.successful()[0]
    identifiers = [{"kind": "key", "value": sample.key}, {"kind": "md5", "value": "0" * 32},
                   {"kind": "Key", "value": f" {sample.key} "}]
    body = api.post(URL, {"identifiers": identifiers}, format="json").json()
    assert body["identifiers"] == 3
    assert [(m["index"], m["key"]) for m in body["matches"]] == [(0, sample.key), (2, sample.key)]
    assert [u["index"] for u in body["unmatched"]] == [1]


def test_allow_listed_identifiers_are_reported_apart(api, release, release_on_disk, operator):
    from apps.matching.services import allow_list_add

    sample = release_on_disk.data.successful()[0]
    allow_list_add(actor=operator, reason="our own test image", kind="sha256", value=sample.sha256)
    body = api.post(URL, _csv([("sha256", sample.sha256), ("key", sample.key), ("md5", "0" * 32)]),
                    content_type="text/csv").json()
    assert [(m["kind"], m["key"]) for m in body["matches"]] == [("key", sample.key)]
    assert body["allow_listed"] == [{"index": 0, "kind": "sha256", "value": sample.sha256, "line": 2}]
    assert [u["index"] for u in body["unmatched"]] == [2]


def test_anonymous_requests_are_refused(release):
    response = APIClient().post(URL, {"identifiers": [{"kind": "key", "value": "1"}]}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")


def test_non_staff_users_are_refused(release, django_user_model):
    user = django_user_model.objects.create_user("visitor", password=PASSWORD)
    one = {"identifiers": [{"kind": "key", "value": "1"}]}
    client = APIClient()
    client.force_login(user)
    assert client.post(URL, one, format="json").status_code == 403
    basic = APIClient()
    basic.credentials(HTTP_AUTHORIZATION=_basic("visitor", PASSWORD))
    assert basic.post(URL, one, format="json").status_code == 403


def test_http_basic_auth_works_for_staff(staff, release, release_on_disk):
    sample = release_on_disk.data.successful()[0]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=_basic("reviewer", PASSWORD))
    response = client.post(URL, _csv([("key", sample.key)]), content_type="text/csv")
    assert response.status_code == 200, response.json()
    assert [m["key"] for m in response.json()["matches"]] == [sample.key]

    client.credentials(HTTP_AUTHORIZATION=_basic("reviewer", "wrong"))
    assert client.post(URL, _csv([("key", sample.key)]), content_type="text/csv").status_code == 401


def test_it_caps_the_number_of_identifiers(api, release):
    too_many = s.MAX_IDENTIFIERS + 1
    response = api.post(URL, {"identifiers": [{"kind": "key", "value": "1"}] * too_many}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == "too many identifiers: 100,001 (at most 100,000 per request; split the list)"

    rows = "".join(f"key,{i}\n" for i in range(too_many))
    response = api.post(URL, "kind,value\n" + rows, content_type="text/csv")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("too many identifiers: 100,001")


def test_the_cap_counts_identifiers_not_lines(api, release, monkeypatch):
    monkeypatch.setattr(s, "MAX_IDENTIFIERS", 3)
    three = "kind,value\n\nkey,1\n\nkey,2\n\nkey,3\n\n"
    assert api.post(URL, three, content_type="text/csv").status_code == 200
    assert api.post(URL, three + "key,4\n", content_type="text/csv").status_code == 400
    one = {"kind": "key", "value": "1"}
    assert api.post(URL, {"identifiers": [one] * 3}, format="json").status_code == 200
    assert api.post(URL, {"identifiers": [one] * 4}, format="json").status_code == 400


def test_a_preview_writes_nothing(staff, release, release_on_disk):
    expected = synthetic.make_removals(release_on_disk.data, seed=3)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=_basic("reviewer", PASSWORD))

    with CaptureQueriesContext(connection) as queries:
        response = client.post(URL, {"identifiers": _items(expected), "expand": True}, format="json")

    assert response.status_code == 200
    assert response.json()["matches"]
    writes = [q["sql"] for q in queries if q["sql"].lstrip().split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]
    assert writes == []
    assert not RemovalRequest.objects.exists()
    assert not Identifier.objects.exists()
    assert not Match.objects.exists()


def test_a_full_batch_is_accepted_beyond_djangos_upload_limit(api, release, release_on_disk, settings):
    sample = release_on_disk.data.successful()[0]
    identifiers = [{"kind": "url", "value": f"https://nowhere.example/{i:06d}/picture.jpg"}
                   for i in range(s.MAX_IDENTIFIERS - 1)] + [{"kind": "key", "value": sample.key}]
    assert len(json.dumps({"identifiers": identifiers})) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    response = api.post(URL, {"identifiers": identifiers}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["identifiers"] == s.MAX_IDENTIFIERS
    assert [(m["index"], m["key"]) for m in body["matches"]] == [(s.MAX_IDENTIFIERS - 1, sample.key)]
    assert len(body["unmatched"]) == s.MAX_IDENTIFIERS - 1


def test_oversized_bodies_are_refused_before_parsing(api, release, monkeypatch):
    monkeypatch.setattr(JSONBodyParser, "max_bytes", 100)
    monkeypatch.setattr(CSVParser, "max_bytes", 100)
    small = {"identifiers": [{"kind": "key", "value": "1"}]}
    assert api.post(URL, small, format="json").status_code == 200
    big = {"identifiers": [{"kind": "key", "value": str(i)} for i in range(10)]}
    for response in (api.post(URL, big, format="json"),
                     api.post(URL, _csv([("key", str(i)) for i in range(20)]), content_type="text/csv")):
        assert response.status_code == 413
        assert response.json()["detail"].startswith("the request body is larger than")
