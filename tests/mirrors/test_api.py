import hashlib

import pytest
from rest_framework.test import APIClient

from apps.core.actors import Actor
from apps.mirrors.models import Acknowledgement
from apps.mirrors.services import mirror_create
from apps.removals.models import Status
from tests.support.events import run_pending
from tests.support.removals import approve_and_publish

BASE = "/api/v1/mirror"


@pytest.fixture
def mirror(release):
    return mirror_create(name="lab-copy", datasets=[release.dataset], actor=Actor.system())


@pytest.fixture
def client(mirror):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {mirror.token}")
    return api


def _publish(operator, sample_keys):
    return approve_and_publish(operator, sample_keys, "csam")


def test_it_refuses_requests_without_a_valid_token(mirror):
    api = APIClient()
    assert api.get(f"{BASE}/feed").status_code == 401
    api.credentials(HTTP_AUTHORIZATION="Bearer td_mirror_wrong")
    response = api.get(f"{BASE}/feed")
    assert response.status_code == 401
    assert response.json() == {"detail": "unknown or revoked mirror token"}
    mirror.mirror.active = False
    mirror.mirror.save()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {mirror.token}")
    assert api.get(f"{BASE}/feed").status_code == 401


def test_it_pages_the_feed_by_a_monotonic_cursor(client, release, release_on_disk, operator):
    keys = [s.key for s in release_on_disk.data.successful()]
    for key in keys[:3]:
        _publish(operator, [key])

    first = client.get(f"{BASE}/feed", {"limit": 2}).json()
    assert [e["version"] for e in first["events"]] == [1, 2]
    assert first["more"] is True
    second = client.get(f"{BASE}/feed", {"after": first["next"], "limit": 2}).json()
    assert [e["version"] for e in second["events"]] == [3]
    assert second["more"] is False
    empty = client.get(f"{BASE}/feed", {"after": second["next"]}).json()
    assert empty == {"events": [], "more": False, "next": second["next"]}
    event = second["events"][0]
    assert event["type"] == "blocklist.published"
    assert (event["dataset"], event["release"]) == ("demo", "2026-11")
    assert event["manifest_url"].endswith("/api/v1/mirror/blocklists/demo/2026-11/3/manifest.json")


def test_it_shows_only_subscribed_datasets(client, release, release_on_disk, operator):
    from apps.datasets.services import release_import

    other = release_import(dataset="other", release="r1", path=release_on_disk.path, actor=operator).release
    _publish(operator, [release_on_disk.data.successful()[0].key])  # hits both datasets
    events = client.get(f"{BASE}/feed").json()["events"]
    assert {e["dataset"] for e in events} == {"demo"}
    assert client.get(f"{BASE}/blocklists/other/r1/1/manifest.json").status_code == 403
    assert other.blocklist_versions.count() == 1


@pytest.mark.parametrize("query, field", [({"after": "-1"}, "after"), ({"limit": "0"}, "limit"),
                                          ({"limit": "501"}, "limit"), ({"after": "x"}, "after")])
def test_it_names_a_bad_feed_parameter(client, query, field):
    response = client.get(f"{BASE}/feed", query)
    assert response.status_code == 400
    body = response.json()
    assert body["detail"].startswith(f"invalid input: {field}: ")
    assert [line.split(":")[0] for line in body["errors"]] == [field]


def test_it_serves_the_manifest_signature_and_files_as_published(client, release, release_on_disk, operator):
    _, [version] = _publish(operator, [s.key for s in release_on_disk.data.successful()[:2]])
    url = f"{BASE}/blocklists/demo/2026-11/1/"
    manifest = client.get(url + "manifest.json")
    assert manifest.status_code == 200
    assert hashlib.sha256(manifest.content).hexdigest() == version.manifest_sha256
    assert "immutable" in manifest["Cache-Control"]
    signature = client.get(url + "manifest.json.sig").content.decode().strip()
    assert signature and manifest["Takedown-Signature"] == signature  # sent along: one request, not two
    for entry in manifest.json()["shards"]:
        data = client.get(url + "files/" + entry["file"]).content
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert client.get(url + "files/../../secret_key").status_code == 404
    assert client.get(url + "files/99999.parquet").status_code == 404
    assert client.get(f"{BASE}/blocklists/demo/2026-11/7/manifest.json").status_code == 404
    listed = client.get(f"{BASE}/blocklists/demo/2026-11/").json()
    assert [v["version"] for v in listed] == [1]


def test_it_lists_releases_with_shard_digests(client, release):
    body = client.get(f"{BASE}/datasets/demo/releases").json()
    [entry] = body["releases"]
    assert entry["release"] == "2026-11"
    assert entry["latest_version"] is None
    assert {s["shard"]: s["parquet_sha256"] for s in entry["shards"]} == dict(
        release.shards.values_list("name", "parquet_sha256"))


def test_it_records_acknowledgements_and_completes_requests(client, mirror, release, release_on_disk, operator):
    request, _ = _publish(operator, [release_on_disk.data.successful()[0].key])
    request.refresh_from_db()
    assert request.status == Status.PUBLISHED

    failed = client.post(f"{BASE}/acks", {"dataset": "demo", "release": "2026-11", "version": 1,
                                          "status": "failed", "detail": "disk full"}, format="json")
    assert failed.status_code == 201
    run_pending()
    request.refresh_from_db()
    assert request.status == Status.PUBLISHED

    applied = client.post(f"{BASE}/acks", {"dataset": "demo", "release": "2026-11", "version": 1,
                                           "status": "applied"}, format="json")
    assert applied.status_code == 201
    assert applied.json()["status"] == "applied"
    ack = Acknowledgement.objects.get()
    assert (ack.mirror, ack.status, ack.blocklist.version) == (mirror.mirror, "applied", 1)
    assert [e.name for e in run_pending().events] == ["mirror.acknowledged", "request.completed"]
    request.refresh_from_db()
    assert request.status == Status.COMPLETED


@pytest.mark.parametrize("body, status, message", [
    # An unknown version is not there, as on the GET endpoints; a version number past any integer column too.
    ({"dataset": "demo", "release": "2026-11", "version": 5, "status": "applied"}, 404, "no blocklist version 5"),
    ({"dataset": "demo", "release": "2026-11", "version": 10**20, "status": "applied"}, 404,
     f"no blocklist version {10**20}"),
    ({"dataset": "demo", "release": "nope", "version": 1, "status": "applied"}, 404, "no blocklist version 1"),
    ({"dataset": "nope", "release": "2026-11", "version": 1, "status": "applied"}, 400, "not subscribed"),
])
def test_it_refuses_acks_for_unknown_versions(client, release, body, status, message):
    response = client.post(f"{BASE}/acks", body, format="json")
    assert response.status_code == status
    assert message in response.json()["detail"]
    assert not Acknowledgement.objects.exists()


def test_it_validates_ack_fields(client, release):
    response = client.post(f"{BASE}/acks", {"dataset": "demo", "status": "done"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "invalid input (3 problems)"
    assert sorted(line.split(":")[0] for line in body["errors"]) == ["release", "status", "version"]


def test_it_serves_the_public_signing_keys_without_a_token(db):
    from apps.blocklists import signing

    body = APIClient().get("/.well-known/takedown/signing-keys.json").json()
    assert body["keys"][0]["key_id"] == signing.key_id()
    assert body["keys"][0]["algorithm"] == "ed25519"


def test_it_serves_an_openapi_schema(db):
    response = APIClient().get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/mirror/feed" in response.content
    assert b"mirrorToken" in response.content


def test_it_tells_a_mirror_who_it_is(client):
    assert client.get(f"{BASE}/me").json() == {"name": "lab-copy", "datasets": ["demo"]}

