"""The Overview on /admin/: open requests by time left, mirrors behind, failing webhooks, background work and
worker health, releases, recent audit events; for every staff role, masked for staff without restricted."""
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.console import overview
from apps.core.identifiers import ParsedIdentifier
from apps.events.models import Event, HandlerRun, Heartbeat
from apps.mirrors.models import WebhookDelivery
from apps.mirrors.services import mirror_create
from apps.removals.models import RemovalRequest
from apps.removals.services import request_create
from tests.support.removals import publish

pytestmark = pytest.mark.django_db


def _request(operator, category="copyright", due_in=timedelta(days=5), source="", value="https://a.example/1.jpg"):
    request = request_create(category=category, actor=operator, source=source,
                             identifiers=[ParsedIdentifier(2, "url", value)])
    RemovalRequest.objects.filter(pk=request.pk).update(due_at=timezone.now() + due_in)
    request.refresh_from_db()
    return request


def _alive(kind=Heartbeat.Kind.WORKER, name="worker@host", seen=timedelta(0)):
    return Heartbeat.objects.create(kind=kind, name=name, seen_at=timezone.now() - seen)


def test_it_counts_open_requests_by_time_left_most_urgent_first(operator, staff_with):
    late = _request(operator, due_in=-timedelta(hours=3), value="https://a.example/late.jpg")
    soon = _request(operator, due_in=timedelta(hours=2), value="https://a.example/soon.jpg")
    later = _request(operator, due_in=timedelta(days=9), value="https://a.example/later.jpg")

    found = overview.requests_by_deadline(user=staff_with("ida", "intake"))

    assert (found.overdue, found.due_soon, found.later, found.open) == (1, 1, 1, 3)
    assert [row.request for row in found.urgent] == [late, soon, later]
    assert [(row.overdue, row.soon) for row in found.urgent] == [(True, False), (False, True), (False, False)]
    assert found.urgent[0].clock.startswith("overdue by 3.0 h")
    assert found.urgent[1].clock.endswith("h left")


def test_it_warns_when_no_worker_is_alive_and_counts_dead_runs(db):
    event = Event.objects.create(name="request.received", payload={"request": 1})
    HandlerRun.objects.create(event=event, handler="matching.match_request", status=HandlerRun.Status.DEAD,
                              attempts=5, last_error="boom")
    _alive(name="old-worker", seen=timedelta(hours=2))

    state = overview.background_state()

    assert state.health.dead == 1
    assert state.health.workers_alive == 0
    assert "No worker is running: background work is not being done." in state.warnings
    assert any("scheduler" in w for w in state.warnings)


def test_a_live_worker_and_scheduler_raise_no_warning(db):
    _alive()
    _alive(kind=Heartbeat.Kind.SCHEDULER, name="beat@host")

    state = overview.background_state()

    assert state.health.workers_alive == 1 and state.scheduler_alive
    assert state.warnings == []


def test_the_page_shows_the_overdue_request_in_red_and_the_worker_warning(client, operator, staff_with):
    late = _request(operator, due_in=-timedelta(hours=1))
    event = Event.objects.create(name="request.received")
    HandlerRun.objects.create(event=event, handler="matching.match_request", status=HandlerRun.Status.DEAD)
    client.force_login(staff_with("rita", "reviewer"))

    body = client.get("/admin/").content.decode()

    row = re.search(r'<tr class="overdue">\s*<td><a href="/admin/removals/removalrequest/(\d+)/change/">'
                    rf"{late.tracking_id}</a>", body)
    assert row and int(row.group(1)) == late.pk
    assert 'href="/admin/removals/removalrequest/?due=overdue" id="overview-overdue">1 overdue' in body
    assert "No worker is running: background work is not being done." in body
    assert 'href="/admin/events/handlerrun/?state=dead" id="overview-dead">1 dead' in body
    # The model list and the way to Lookup stay on the page.
    assert 'id="models-heading"' in body and 'href="/admin/removals/removalrequest/"' in body
    assert 'href="/admin/lookup/"' in body


def test_with_a_live_worker_the_page_has_no_warning(client, staff_with):
    _alive()
    _alive(kind=Heartbeat.Kind.SCHEDULER, name="beat@host")
    client.force_login(staff_with("rita", "reviewer"))

    body = client.get("/admin/").content.decode()

    assert "No worker is running" not in body and "scheduler (celery beat) is not running" not in body
    assert "1 alive" in body


@pytest.mark.parametrize("role", ["intake", "reviewer", "legal", "admin"])
def test_every_staff_role_lands_on_the_overview(client, staff_with, role):
    client.force_login(staff_with(f"someone-{role}", role))

    response = client.get("/admin/")

    assert response.status_code == 200
    body = response.content.decode()
    assert "Open requests by time left" in body and 'id="chart-received"' in body
    assert "Recent audit events" in body


def test_a_user_who_is_not_staff_is_sent_to_log_in(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("visitor", password="x"))

    response = client.get("/admin/")

    assert response.status_code == 302 and response.url.startswith("/admin/login/")


def test_a_csam_request_shows_only_its_clock_to_staff_without_restricted(client, operator, staff_with):
    csam = _request(operator, category="csam", due_in=-timedelta(hours=1), source="SecretHotlineSource",
                    value="https://secret-host.example/x.jpg")
    client.force_login(staff_with("rita", "reviewer"))

    body = client.get("/admin/").content.decode()

    assert csam.tracking_id in body and "Child sexual abuse material" in body and "overdue by" in body
    assert "SecretHotlineSource" not in body and "secret-host" not in body
    row = overview.requests_by_deadline(user=staff_with("ivo", "intake")).urgent[0]
    assert row.request == csam and row.masked

    client.force_login(staff_with("rhea", "reviewer", "restricted"))
    assert "SecretHotlineSource" in client.get("/admin/").content.decode()


def test_recent_audit_events_hide_who_acted_on_a_csam_request(client, operator, staff_with):
    _request(operator, category="csam", source="x")
    _request(operator, category="copyright", value="https://b.example/2.jpg")
    client.force_login(staff_with("rita", "reviewer"))

    events = overview.audit_recent(user=staff_with("ivo", "intake"))
    body = client.get("/admin/").content.decode()

    by_type = {e.object_repr.split(" ")[-1]: e.actor_hidden for e in events if e.action == "request.received"}
    assert by_type == {"(csam)": True, "(copyright)": False}
    section = body[body.index('id="overview-audit"'):]
    assert "(restricted)" in section and operator.label in section
    assert all(not e.actor_hidden for e in overview.audit_recent(user=staff_with("rhea", "reviewer", "restricted")))


def test_a_mirror_that_has_not_applied_the_latest_version_is_behind(client, release, operator, staff_with):
    mirror = mirror_create(name="slow-mirror", datasets=[release.dataset], actor=operator).mirror
    sample = release.shards.order_by("name").first()
    assert sample is not None
    from apps.datasets.selectors import release_samples

    key = release_samples(release=release, limit=1)[0]["key"]
    request = request_create(category="copyright", actor=operator, identifiers=[ParsedIdentifier(2, "key", key)])
    from apps.removals.services import request_approve

    request_approve(request=request, actor=operator)
    [version] = publish(request)

    behind = overview.mirrors_behind()

    assert [state.mirror for state in behind] == [mirror]
    assert [(r.release, r.lag, r.latest_published) for r in behind[0].releases] == [("2026-11", 1, version.version)]
    client.force_login(staff_with("rita", "reviewer"))
    section = client.get("/admin/").content.decode().split('id="overview-mirrors"')[1].split("</section>")[0]
    assert f'href="/admin/mirrors/mirror/{mirror.pk}/change/">slow-mirror</a>' in section
    assert "1 version" in section


def test_failing_webhooks_are_counted_and_linked(client, release, operator, staff_with):
    from apps.blocklists.models import BlocklistVersion
    from apps.mirrors.models import FeedEvent

    mirror = mirror_create(name="hooked", datasets=[release.dataset], actor=operator).mirror
    now = timezone.now()
    version = BlocklistVersion.objects.create(release=release, version=1, created_at=now, expires_at=now,
                                              key_count=0, shard_count=0, content_sha256="0", manifest_sha256="0",
                                              key_id="k", path="p")
    event = FeedEvent.objects.create(type="blocklist.published", dataset=release.dataset, release=release,
                                     blocklist=version, payload={}, created_at=now)
    given_up = WebhookDelivery.objects.create(mirror=mirror, event=event, status="failed", attempt_count=8)

    found = overview.webhooks_failing()
    client.force_login(staff_with("ivo", "intake"))
    body = client.get("/admin/").content.decode()

    assert (found.given_up, found.retrying, found.recent) == (1, 0, [given_up])
    assert 'href="/admin/mirrors/webhookdelivery/?status__exact=failed">1 given up' in body
    assert f'href="/admin/mirrors/webhookdelivery/{given_up.pk}/change/"' in body


def test_a_release_being_imported_shows_its_shards_indexed(client, indexing_release, staff_with):
    state = overview.releases_state()
    client.force_login(staff_with("ivo", "intake"))
    body = client.get("/admin/").content.decode()

    [importing] = state.importing
    assert importing == indexing_release
    assert (importing.shards_indexed, importing.shards_total) == (0, 3)
    assert "importing: 0 of 3 shards indexed" in body


def test_the_page_costs_the_same_queries_however_many_requests_there_are(client, operator, staff_with):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(staff_with("rita", "reviewer"))
    for n in range(3):
        _request(operator, due_in=timedelta(hours=n - 1), value=f"https://q.example/{n}.jpg")
    with CaptureQueriesContext(connection) as few:
        client.get("/admin/")
    for n in range(3, 40):
        _request(operator, due_in=timedelta(hours=n - 1), value=f"https://q.example/{n}.jpg")
    with CaptureQueriesContext(connection) as many:
        client.get("/admin/")

    assert len(many) <= len(few)  # no query per row (roles included)


def test_a_worker_gone_for_under_a_minute_says_how_many_seconds(client, staff_with):
    _alive(seen=timedelta(seconds=57))  # past the liveness window (45 s): "0 minutes ago" said nothing
    client.force_login(staff_with("rita", "reviewer"))

    body = client.get("/admin/").content.decode()

    assert "none alive" in body and re.search(r"last seen 5\d\xa0seconds ago|last seen 5\d seconds ago", body), body
