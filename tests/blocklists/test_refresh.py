"""A release's blocklist is published again, with the same keys, before its latest version expires."""
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.blocklists.models import BlocklistVersion
from apps.blocklists.selectors import releases_due_for_refresh
from apps.blocklists.services import blocklist_refresh
from apps.blocklists.tasks import blocklists_refresh_task
from apps.core.identifiers import ParsedIdentifier
from apps.mirrors.models import FeedEvent
from apps.removals.services import request_approve, request_create
from tests.blocklists.support import manifest, refused_at_start_up
from tests.support.events import run_pending
from tests.support.removals import publish


@pytest.fixture
def v1(release, release_on_disk, operator):
    samples = release_on_disk.data.successful()
    request = request_create(category="copyright", actor=operator, identifiers=[
        ParsedIdentifier(line=2, kind="key", value=samples[0].key),
        ParsedIdentifier(line=3, kind="key", value=samples[30].key)])
    request_approve(request=request, actor=operator)
    [version] = publish(request)
    return version


def _expire_in(version, days):
    BlocklistVersion.objects.filter(pk=version.pk).update(expires_at=timezone.now() + timedelta(days=days))


def test_a_version_far_from_expiry_is_left_alone(release, v1, settings):
    assert settings.BLOCKLIST_REFRESH_DAYS == 30
    assert releases_due_for_refresh() == []
    result = blocklist_refresh(release=release)
    assert result.created is False and result.version == v1


def test_a_version_expiring_within_the_window_is_renewed_with_the_same_keys_once(release, v1, eager_tasks):
    _expire_in(v1, 29)
    assert releases_due_for_refresh() == [release.pk]
    blocklists_refresh_task()
    v2 = BlocklistVersion.objects.get(version=2)
    published = manifest(v2)
    assert published["delta"] == {"base_version": 1, "base_manifest_sha256": v1.manifest_sha256,
                                 "added_keys": 0, "removed_keys": 0, "shards": []}
    assert published["shards"] == manifest(v1)["shards"]  # the same files, byte for byte
    assert published["previous_manifest_sha256"] == v1.manifest_sha256
    assert v2.refresh and (v2.key_count, v2.added_keys, v2.removed_keys) == (v1.key_count, 0, 0)
    assert v2.content_sha256 == v1.content_sha256
    assert v2.expires_at > timezone.now() + timedelta(days=89)
    run_pending()  # a worker announces it to the mirrors
    assert FeedEvent.objects.filter(blocklist=v2).count() == 1
    assert list(v2.requests.all()) == []  # nothing new to carry: the longest ack deadline applies

    blocklists_refresh_task()  # idempotent: the new version is far from expiry
    assert blocklist_refresh(release=release).created is False
    assert BlocklistVersion.objects.count() == 2
    assert releases_due_for_refresh() == []


def test_an_expired_version_is_renewed_and_only_the_latest_version_counts(release, v1, release_on_disk, operator):
    _expire_in(v1, -3)
    assert releases_due_for_refresh() == [release.pk]
    # A newer version (new keys) is what mirrors apply: an old version's expiry does not matter.
    request = request_create(category="copyright", actor=operator, identifiers=[
        ParsedIdentifier(line=2, kind="key", value=release_on_disk.data.successful()[5].key)])
    request_approve(request=request, actor=operator)
    publish(request)
    assert releases_due_for_refresh() == []


def test_refresh_is_on_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["refresh-blocklists"]
    assert entry["task"] == "apps.blocklists.tasks.blocklists_refresh_task"
    assert entry["schedule"] == 3600


def test_a_refresh_window_as_long_as_the_expiry_is_refused_at_start_up(tmp_path):
    refused_at_start_up(tmp_path, "BLOCKLIST_REFRESH_DAYS=90 must be less than BLOCKLIST_MANIFEST_TTL_DAYS=90",
                        BLOCKLIST_REFRESH_DAYS="90")
