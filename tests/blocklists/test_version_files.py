"""A version's files on its admin page: listed from its manifest, viewable and downloadable by staff who may see
versions; nothing outside the manifest is served; a missing file is said so; keys of csam and ncii removals only
to restricted staff."""
import hashlib
import io
import json

import pyarrow.parquet as pq
import pytest

from apps.blocklists.selectors import storage
from tests.support.removals import approve_and_publish


@pytest.fixture
def version(release, release_on_disk, operator):
    _, [version] = approve_and_publish(operator, [release_on_disk.data.successful()[0].key], "copyright")
    return version


def _url(version, view, name):
    return f"/admin/blocklists/blocklistversion/{version.pk}/{view}/{name}"


def _on_disk(version, name) -> bytes:
    with storage().open(f"{version.path}/{name}", "rb") as handle:
        return handle.read()


def test_the_version_page_lists_its_files_with_their_digests(client, staff_with, version):
    client.force_login(staff_with("rev", "reviewer"))
    page = client.get(f"/admin/blocklists/blocklistversion/{version.pk}/change/").content.decode()
    manifest = json.loads(_on_disk(version, "manifest.json"))
    [shard] = manifest["shards"]
    for name in ("manifest.json", "manifest.json.sig", shard["file"]):
        assert f'href="{_url(version, "files", name)}"' in page and f'href="{_url(version, "download", name)}"' in page
    assert f'title="{shard["sha256"]}"' in page and f'{len(_on_disk(version, shard["file"]))} bytes' in page
    # The requests it removes, linked.
    [request] = version.requests.all()
    assert f'href="/admin/removals/removalrequest/{request.pk}/change/">{request.tracking_id}</a>' in page


def test_it_shows_the_manifest_as_text_and_a_shard_file_as_hex(client, staff_with, version):
    client.force_login(staff_with("rev", "reviewer"))
    manifest = client.get(_url(version, "files", "manifest.json")).content.decode()
    assert "&quot;total_keys&quot;: 1" in manifest and "matches the manifest" in manifest
    name = json.loads(_on_disk(version, "manifest.json"))["shards"][0]["file"]
    shard = client.get(_url(version, "files", name)).content.decode()
    assert 'id="file-hex"' in shard and "50 41 52 31" in shard  # parquet's magic "PAR1"


def test_a_long_file_is_cut_with_a_note(client, staff_with, version, monkeypatch):
    from apps.blocklists import admin as blocklists_admin

    monkeypatch.setattr(blocklists_admin, "VIEW_BYTES", 100)
    client.force_login(staff_with("rev", "reviewer"))
    page = client.get(_url(version, "files", "manifest.json")).content.decode()
    size = len(_on_disk(version, "manifest.json"))
    assert f"Showing the first 100 of {size} bytes" in page


def test_it_downloads_the_bytes_on_disk_as_an_attachment(client, staff_with, version):
    client.force_login(staff_with("rev", "reviewer"))
    name = json.loads(_on_disk(version, "manifest.json"))["shards"][0]["file"]
    response = client.get(_url(version, "download", name))
    assert response.status_code == 200 and response.content == _on_disk(version, name)
    assert response["Content-Type"] == "application/vnd.apache.parquet"
    assert response["Content-Disposition"] == f'attachment; filename="demo-2026-11-v1-{name}"'
    assert pq.read_table(io.BytesIO(response.content)).num_rows == 1
    manifest = client.get(_url(version, "download", "manifest.json"))
    assert manifest["Content-Type"] == "application/json"
    assert hashlib.sha256(manifest.content).hexdigest() == version.manifest_sha256


@pytest.mark.parametrize("name", ["../../secret.txt", "..%2F..%2Fsecret.txt", "../v000001/manifest.json",
                                  "/etc/passwd", "00000.parquet/../manifest.json", "nothing.parquet"])
def test_only_files_the_manifest_lists_are_served(client, staff_with, version, name, settings, tmp_path):
    (tmp_path / "blocklists" / "secret.txt").write_text("not a blocklist file")
    client.force_login(staff_with("rev", "reviewer"))
    for view in ("files", "download"):
        response = client.get(_url(version, view, name))
        assert response.status_code == 404, (view, name)
        body = response.content.decode()
        assert "not a blocklist file" not in body and "root:" not in body
        assert "has no file" in body or "Not Found" in body


def test_a_missing_file_is_said_so(client, staff_with, version):
    client.force_login(staff_with("rev", "reviewer"))
    name = json.loads(_on_disk(version, "manifest.json"))["shards"][0]["file"]
    storage().delete(f"{version.path}/{name}")
    page = client.get(f"/admin/blocklists/blocklistversion/{version.pk}/change/").content.decode()
    assert "missing" in page and f'href="{_url(version, "files", name)}"' not in page
    response = client.get(_url(version, "files", name))
    assert response.status_code == 404
    assert "is missing from the blocklists storage" in response.content.decode()

    storage().delete(f"{version.path}/manifest.json")
    page = client.get(f"/admin/blocklists/blocklistversion/{version.pk}/change/")
    assert page.status_code == 200 and "no file &#x27;manifest.json&#x27;" in page.content.decode()


def test_staff_who_may_not_see_versions_get_no_file(client, staff_with, version):
    client.force_login(staff_with("nobody"))
    assert client.get(_url(version, "files", "manifest.json")).status_code == 403
    assert client.get(_url(version, "download", "manifest.json")).status_code == 403


def test_keys_of_csam_removals_are_for_restricted_staff_only(client, staff_with, release, release_on_disk, operator):
    key = release_on_disk.data.successful()[0].key
    _, [version] = approve_and_publish(operator, [key], "csam")
    name = json.loads(_on_disk(version, "manifest.json"))["shards"][0]["file"]
    client.force_login(staff_with("rev", "reviewer"))
    page = client.get(f"/admin/blocklists/blocklistversion/{version.pk}/change/").content.decode()
    assert f'href="{_url(version, "files", name)}"' not in page and "(restricted)" in page
    assert f'href="{_url(version, "files", "manifest.json")}"' in page
    for view in ("files", "download"):
        response = client.get(_url(version, view, name))
        assert response.status_code == 403 and key.encode() not in response.content
    assert client.get(_url(version, "download", "manifest.json")).status_code == 200

    client.force_login(staff_with("restricted-rev", "reviewer", "restricted"))
    assert client.get(_url(version, "download", name)).content == _on_disk(version, name)
