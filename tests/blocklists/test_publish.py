import base64
import hashlib
import json

import pyarrow.parquet as pq
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.files.storage import storages

from apps.blocklists import signing
from apps.blocklists.models import BlocklistVersion
from apps.blocklists.selectors import blocklist_read
from apps.blocklists.services import blocklist_publish
from apps.core.identifiers import ParsedIdentifier
from apps.mirrors.models import FeedEvent
from apps.removals.models import RemovalRequest
from apps.removals.services import request_approve, request_create
from tests.support.removals import publish, publish_fails


def _request(operator, release_on_disk, category, samples):
    idents = [ParsedIdentifier(line=i + 2, kind="key", value=s.key) for i, s in enumerate(samples)]
    request = request_create(category=category, identifiers=idents, actor=operator)
    request_approve(request=request, actor=operator)
    return publish(request)


def _manifest(version):
    return json.loads(blocklist_read(version=version, name="manifest.json"))


def test_it_publishes_shard_files_of_blocked_keys_and_a_signed_manifest(release, release_on_disk, operator):
    samples = release_on_disk.data.successful()
    chosen = [samples[1], samples[2], samples[30]]
    [version] = _request(operator, release_on_disk, "csam", chosen)

    manifest_bytes = blocklist_read(version=version, name="manifest.json")
    manifest = json.loads(manifest_bytes)
    assert (manifest["dataset"], manifest["release"], manifest["version"]) == ("demo", "2026-11", 1)
    assert manifest["previous_manifest_sha256"] is None
    assert manifest["created_at"] and manifest["expires_at"] > manifest["created_at"]
    keys_by_shard = {}
    for entry in manifest["shards"]:
        data = blocklist_read(version=version, name=entry["file"])
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        table = pq.read_table(storages["blocklists"].path(f"{version.path}/{entry['file']}"))
        assert table.column_names == ["key"]  # never URLs, hashes or the category
        assert table.num_rows == entry["count"]
        keys_by_shard[entry["shard"]] = table.column("key").to_pylist()
    expected = {}
    for sample in chosen:
        expected.setdefault(sample.shard, set()).add(sample.key)
    assert {shard: set(keys) for shard, keys in keys_by_shard.items()} == expected
    assert all(keys == sorted(keys) for keys in keys_by_shard.values())

    signature = base64.b64decode(blocklist_read(version=version, name="manifest.json.sig"))
    Ed25519PublicKey.from_public_bytes(signing.public_key_bytes()).verify(signature, manifest_bytes)
    assert manifest["key_id"] == signing.key_id()
    everything = b"".join(blocklist_read(version=version, name=n) for n in
                          ["manifest.json", *(e["file"] for e in manifest["shards"])])
    for sample in chosen:
        assert sample.url.encode() not in everything and sample.sha256.encode() not in everything
    assert FeedEvent.objects.filter(blocklist=version).count() == 1


def test_it_numbers_versions_and_chains_manifests(release, release_on_disk, operator):
    samples = release_on_disk.data.successful()
    [v1] = _request(operator, release_on_disk, "copyright", [samples[0]])
    [v2] = _request(operator, release_on_disk, "privacy", [samples[10]])
    assert (v1.version, v2.version) == (1, 2)
    assert _manifest(v2)["previous_manifest_sha256"] == v1.manifest_sha256
    assert v1.manifest_sha256 == hashlib.sha256(blocklist_read(version=v1, name="manifest.json")).hexdigest()
    assert _manifest(v2)["total_keys"] == 2


def test_it_does_not_publish_when_nothing_changed(release, release_on_disk, operator):
    samples = release_on_disk.data.successful()
    [v1] = _request(operator, release_on_disk, "copyright", [samples[0]])
    [again] = _request(operator, release_on_disk, "ncii", [samples[0]])
    assert again == v1
    assert BlocklistVersion.objects.count() == 1
    assert set(v1.requests.all()) == set(RemovalRequest.objects.all())
    assert blocklist_publish(release=release).created is False


def test_it_writes_the_same_shard_files_for_the_same_keys(release, release_on_disk, operator):
    samples = release_on_disk.data.successful()
    [v1] = _request(operator, release_on_disk, "copyright", [samples[0], samples[25]])
    first = {e["file"]: e["sha256"] for e in _manifest(v1)["shards"]}
    RemovalRequest.objects.update(status="rejected")
    [v2] = _request(operator, release_on_disk, "copyright", [samples[10]])
    [v3] = _request(operator, release_on_disk, "copyright", [samples[0], samples[25]])
    assert v3.version == 3
    RemovalRequest.objects.filter(pk=v2.requests.get().pk).update(status="rejected")
    v4 = blocklist_publish(release=release).version
    assert {e["file"]: e["sha256"] for e in _manifest(v4)["shards"]} == first


def test_it_leaves_no_partial_version_when_publishing_fails(release, release_on_disk, operator, settings, tmp_path):
    bad_key = tmp_path / "not-ed25519.pem"
    bad_key.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    settings.BLOCKLIST_SIGNING_KEY = str(bad_key)
    signing.private_key.cache_clear()
    try:
        sample = release_on_disk.data.successful()[3]
        request = request_create(category="csam", actor=operator,
                                 identifiers=[ParsedIdentifier(line=2, kind="key", value=sample.key)])
        request_approve(request=request, actor=operator)
        assert "not a PEM private key" in publish_fails(request)
    finally:
        settings.BLOCKLIST_SIGNING_KEY = ""
        signing.private_key.cache_clear()
    assert not BlocklistVersion.objects.exists()
    assert not FeedEvent.objects.exists()
    request.refresh_from_db()
    assert request.status == "approved"  # still owed: a worker tries its publishing again

    [version] = publish(request)
    assert version.version == 1 and version.key_count == 1
