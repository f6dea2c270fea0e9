"""Protocol v2: each version carries its delta (added and removed keys per shard) against the one before."""
import hashlib
import io

import pyarrow.parquet as pq
import pytest
from django.db import transaction

from apps.blocklists import services
from apps.blocklists.models import BlocklistVersion
from apps.blocklists.selectors import blocklist_files, blocklist_read
from apps.blocklists.services import blocklist_publish
from apps.core.identifiers import ParsedIdentifier
from apps.mirrors.models import FeedEvent
from apps.removals.legal import counter_notice_record, request_reinstate
from apps.removals.models import RemovalRequest
from apps.removals.services import request_approve, request_create
from tests.blocklists.support import file_keys, manifest, publish
from tests.support.removals import publish_fails


def _by_shard(samples):
    found = {}
    for sample in samples:
        found.setdefault(sample.shard, set()).add(sample.key)
    return found


def _full(version):
    return {e["shard"]: set(file_keys(version, e["file"])) for e in manifest(version)["shards"]}


def _delta_keys(version, side):
    """One side of a version's delta, by shard, checking each file against its manifest entry."""
    found = {}
    for entry in manifest(version)["delta"]["shards"]:
        if entry[f"{side}_file"]:
            keys = file_keys(version, entry[f"{side}_file"])
            assert len(keys) == entry[f"{side}_count"] and keys == sorted(keys)
            data = blocklist_read(version=version, name=entry[f"{side}_file"])
            assert hashlib.sha256(data).hexdigest() == entry[f"{side}_sha256"]
            found[entry["shard"]] = set(keys)
        else:
            assert entry[f"{side}_count"] == 0 and entry[f"{side}_sha256"] is None
    return found


@pytest.fixture
def samples(release_on_disk):
    return release_on_disk.data.successful()


def test_the_first_version_has_no_delta_and_keeps_every_v1_field(release, samples, operator):
    publish(operator, [samples[0], samples[30]])
    version = BlocklistVersion.objects.get()
    published = manifest(version)
    assert published["format"] == "takedown.blocklist/2"
    assert published["delta"] is None
    assert {"dataset", "release", "version", "created_at", "expires_at", "previous_manifest_sha256", "key_id",
            "key_column", "total_keys", "shards"} <= set(published)
    assert (version.delta_base_version, version.added_keys, version.removed_keys) == (None, 2, 0)
    assert FeedEvent.objects.get(blocklist=version).payload["delta_base_version"] is None


def test_a_version_lists_the_keys_it_adds_per_shard_against_the_one_before(release, samples, operator):
    publish(operator, [samples[0]])
    added = [samples[1], samples[25], samples[45]]
    publish(operator, added)
    v1, v2 = BlocklistVersion.objects.order_by("version")
    delta = manifest(v2)["delta"]
    assert (delta["base_version"], delta["base_manifest_sha256"]) == (1, v1.manifest_sha256)
    assert (delta["added_keys"], delta["removed_keys"]) == (3, 0)
    assert _delta_keys(v2, "added") == _by_shard(added)
    assert _delta_keys(v2, "removed") == {}
    assert [e["shard"] for e in delta["shards"]] == sorted(_by_shard(added))
    for entry in delta["shards"]:
        assert entry["added_file"] == f"{entry['shard']}.added.parquet" and entry["removed_file"] is None
    assert (v2.delta_base_version, v2.added_keys, v2.removed_keys, v2.refresh) == (1, 3, 0, False)
    assert FeedEvent.objects.get(blocklist=v2).payload["delta_base_version"] == 1
    # Delta files are served by the same route as the full shard files.
    assert set(blocklist_files(version=v2)) >= {e["added_file"] for e in delta["shards"]}


def test_a_reinstated_request_shows_as_removed_keys_in_the_next_version(
        release, samples, operator, eager_tasks, django_capture_on_commit_callbacks):
    publish(operator, [samples[2]], category="privacy")
    request = publish(operator, [samples[3], samples[23]])
    before = BlocklistVersion.objects.order_by("-version").first()
    notice = counter_notice_record(request=request, actor=operator, counter_party="Bo Uploader")
    with django_capture_on_commit_callbacks(execute=True):
        request_reinstate(notice=notice, actor=operator)
    after = BlocklistVersion.objects.order_by("-version").first()
    assert after.version == before.version + 1
    delta = manifest(after)["delta"]
    assert (delta["added_keys"], delta["removed_keys"]) == (0, 2)
    assert _delta_keys(after, "removed") == _by_shard([samples[3], samples[23]])
    assert (after.added_keys, after.removed_keys, after.key_count) == (0, 2, 1)
    assert _full(after) == _by_shard([samples[2]])


def test_applying_each_delta_to_the_previous_list_gives_the_next_list(release, samples, operator):
    first = publish(operator, [samples[0], samples[21]])
    publish(operator, [samples[1], samples[41]])
    RemovalRequest.objects.filter(pk=first.pk).update(status="rejected")
    publish(operator, [samples[4]])
    versions = list(BlocklistVersion.objects.order_by("version"))
    assert [(v.added_keys, v.removed_keys) for v in versions] == [(2, 0), (2, 0), (1, 2)]
    for before, after in zip(versions, versions[1:]):
        current = _full(before)
        for shard, keys in _delta_keys(after, "added").items():
            current.setdefault(shard, set()).update(keys)
        for shard, keys in _delta_keys(after, "removed").items():
            current[shard] -= keys
        assert {s: k for s, k in current.items() if k} == _full(after)
        assert after.added_keys == sum(map(len, _delta_keys(after, "added").values()))
        assert after.removed_keys == sum(map(len, _delta_keys(after, "removed").values()))


def test_delta_files_have_deterministic_bytes(release, samples, operator):
    publish(operator, [samples[0]])
    publish(operator, [samples[1], samples[2]])
    v2 = BlocklistVersion.objects.get(version=2)
    entry = next(e for e in manifest(v2)["delta"]["shards"] if e["added_file"])
    data = blocklist_read(version=v2, name=entry["added_file"])
    assert data == services._shard_file(reversed(file_keys(v2, entry["added_file"])))
    assert pq.read_schema(io.BytesIO(data)).names == ["key"]


def test_a_failure_while_writing_leaves_no_version_and_a_retry_replaces_the_leftovers(
        release, samples, operator, monkeypatch):
    publish(operator, [samples[0]])
    request = request_create(category="copyright", actor=operator,
                             identifiers=[ParsedIdentifier(line=2, kind="key", value=samples[1].key)])
    request_approve(request=request, actor=operator)
    real_write = services._write

    def failing(path, data):
        real_write(path, data)
        if path.endswith(".added.parquet"):
            raise OSError("disk full")

    monkeypatch.setattr(services, "_write", failing)
    assert publish_fails(request) == "OSError: disk full"
    assert BlocklistVersion.objects.count() == 1
    assert FeedEvent.objects.count() == 1
    monkeypatch.setattr(services, "_write", real_write)
    with transaction.atomic():
        result = blocklist_publish(release=release, requests=[request], actor=operator)
    assert result.created and result.version.version == 2
    assert manifest(result.version)["delta"]["added_keys"] == 1
    _, names = services.storage().listdir(result.version.path)
    assert sorted(names) == sorted([*blocklist_files(version=result.version), "manifest.json",
                                    "manifest.json.sig"])
