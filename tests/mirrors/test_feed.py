"""The feed's ETag and 304, its retention window, and the 410 that tells a lagging mirror to resync."""
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core.actors import Actor
from apps.mirrors.models import FeedEvent, FeedRetention, WebhookDelivery
from apps.mirrors.services import feed_prune, mirror_create
from tests.mirrors.support import publish as _publish

FEED = "/api/v1/mirror/feed"


@pytest.fixture
def client(release):
    created = mirror_create(name="lab", datasets=[release.dataset], actor=Actor.system())
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {created.token}")
    return api


@pytest.fixture
def keys(release_on_disk):
    return [s.key for s in release_on_disk.data.successful()]


def _age(days: int, *events: FeedEvent) -> None:
    FeedEvent.objects.filter(pk__in=[e.pk for e in events]).update(created_at=timezone.now() - timedelta(days=days))


def test_it_answers_304_to_a_matching_etag_without_reading_the_page(client, operator, keys):
    _publish(operator, keys[0])
    first = client.get(FEED, {"after": 0, "limit": 10})
    etag = first["ETag"]
    assert first.status_code == 200 and etag.startswith('W/"')

    with CaptureQueriesContext(connection) as queries:
        again = client.get(FEED, {"after": 0, "limit": 10}, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag and again.content == b""
    assert not any("payload" in q["sql"] for q in queries.captured_queries)  # no event was loaded
    assert client.get(FEED, {"after": 0, "limit": 10}, HTTP_IF_NONE_MATCH=etag.removeprefix("W/")).status_code == 304

    # Another query, or a new event, is another tag.
    assert client.get(FEED, {"after": 0, "limit": 5}, HTTP_IF_NONE_MATCH=etag).status_code == 200
    _publish(operator, keys[1])
    changed = client.get(FEED, {"after": 0, "limit": 10}, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert [e["version"] for e in changed.json()["events"]] == [1, 2]
    assert [e["delta_base_version"] for e in changed.json()["events"]] == [None, 1]


def test_the_etag_is_the_mirrors_own(release, client, operator, keys):
    _publish(operator, keys[0])
    etag = client.get(FEED)["ETag"]
    other = mirror_create(name="other", datasets=[release.dataset], actor=Actor.system())
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {other.token}")
    assert api.get(FEED, HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_pruning_keeps_each_releases_latest_event_and_records_the_floor(client, operator, keys):
    for key in keys[:4]:
        _publish(operator, key)
    e1, e2, e3, e4 = FeedEvent.objects.order_by("pk")
    _age(100, e1, e2, e3, e4)  # all old, but e4 is the release's latest

    assert feed_prune() == 3
    assert feed_prune() == 0  # idempotent
    assert set(FeedEvent.objects.filter(pruned_at__isnull=True).values_list("pk", flat=True)) == {e4.pk}
    retention = FeedRetention.current()
    assert (retention.floor, retention.pruned_count) == (e3.pk, 3)
    assert FeedEvent.objects.count() == 4  # kept, marked: the record of who was notified when

    body = client.get(FEED).json()
    assert [e["id"] for e in body["events"]] == [e4.pk]


def test_an_event_with_a_pending_webhook_is_not_pruned(release, client, operator, keys):
    hooked = mirror_create(name="hooked", datasets=[release.dataset], webhook_url="https://hooks.example/x",
                           actor=Actor.system()).mirror
    _publish(operator, keys[0])
    _publish(operator, keys[1])
    e1, e2 = FeedEvent.objects.order_by("pk")
    _age(100, e1, e2)
    assert WebhookDelivery.objects.filter(mirror=hooked, event=e1, status="pending").exists()
    assert feed_prune() == 0
    WebhookDelivery.objects.update(status="delivered")
    assert feed_prune() == 1


def test_a_cursor_older_than_the_window_gets_410_with_where_to_resync(client, operator, keys):
    for key in keys[:3]:
        _publish(operator, key)
    e1, e2, e3 = FeedEvent.objects.order_by("pk")
    _age(100, e1, e2)
    feed_prune()
    assert FeedRetention.current().floor == e2.pk

    gone = client.get(FEED, {"after": e1.pk})
    assert gone.status_code == 410
    body = gone.json()
    assert body["detail"] == (f"cursor {e1.pk} is older than the feed's retention window: "
                              "resync from the latest versions")
    assert body["resync"] is True and body["cursor"] == e3.pk
    [latest] = body["latest"]
    assert (latest["id"], latest["version"], latest["type"]) == (e3.pk, 3, "blocklist.published")
    assert latest["manifest_url"].endswith("/demo/2026-11/3/manifest.json") and latest["delta_base_version"] == 2

    # At or past the floor, and from 0, the cursor works as before.
    assert [e["id"] for e in client.get(FEED, {"after": e2.pk}).json()["events"]] == [e3.pk]
    assert [e["id"] for e in client.get(FEED, {"after": 0}).json()["events"]] == [e3.pk]
    assert client.get(FEED, {"after": e3.pk}).json() == {"events": [], "more": False, "next": e3.pk}
