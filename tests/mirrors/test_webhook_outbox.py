"""The webhook outbox under failure: concurrency, backoff, attempt rows, permanent failures, disabling."""
import datetime
import time

import pytest
from django.core import mail
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from apps.audit.models import AuditEvent
from apps.core.actors import Actor
from apps.core.backoff import backoff_seconds
from apps.mirrors.models import Mirror, WebhookAttempt, WebhookDelivery
from apps.mirrors.selectors import deliveries_due
from apps.mirrors.services import (
    delivery_send,
    event_fanout,
    mirror_authenticate,
    mirror_create,
    mirror_reenable,
    mirror_update,
)
from tests.mirrors.support import publish as _publish
from tests.mirrors.support import start_fleet


@pytest.fixture
def fleet():
    fleet = start_fleet()
    yield fleet
    fleet.stop()


def _hook(release, fleet, name):
    return mirror_create(name=name, datasets=[release.dataset], webhook_url=fleet.url(name), actor=Actor.system())


def test_it_sends_one_events_deliveries_concurrently(release, release_on_disk, operator, fleet, settings,
                                                       allow_loopback_webhooks):
    settings.WEBHOOK_CONCURRENCY = 32
    names = [f"m{i:02d}" for i in range(24)]
    for name in names:
        _hook(release, fleet, name)
        fleet.plans[name] = [("slow", 1.0)]
    _publish(operator, release_on_disk.data.successful()[0].key)
    event_id = WebhookDelivery.objects.values_list("event_id", flat=True).first()

    started = time.monotonic()
    sent = event_fanout(event_id=event_id)
    elapsed = time.monotonic() - started

    assert len(sent) == 24 and fleet.received() == set(names)
    assert elapsed < 6, f"24 receivers taking 1 s each took {elapsed:.1f} s: not sent concurrently"
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}
    assert set(WebhookAttempt.objects.values_list("status", flat=True)) == {"succeeded"}
    assert all(a.duration_ms >= 900 for a in WebhookAttempt.objects.all())


def test_a_slow_receiver_times_out_without_holding_up_the_others(release, release_on_disk, operator, fleet,
                                                                 settings, allow_loopback_webhooks):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    for name in ("quick", "stuck"):
        _hook(release, fleet, name)
    fleet.plans["stuck"] = [("slow", 3)]
    _publish(operator, release_on_disk.data.successful()[0].key)
    event_fanout(event_id=WebhookDelivery.objects.first().event_id)

    quick = WebhookDelivery.objects.get(mirror__name="quick")
    stuck = WebhookDelivery.objects.get(mirror__name="stuck")
    assert quick.status == "delivered"
    assert (stuck.status, stuck.attempt_count) == ("pending", 1)
    attempt = stuck.attempts.get()
    assert attempt.status == "failed" and attempt.status_code is None and "Timeout" in attempt.error


def test_failed_tries_are_saved_and_queued_again_without_waiting_for_a_slow_receiver(
        release, release_on_disk, operator, fleet, settings, allow_loopback_webhooks):
    settings.WEBHOOK_TIMEOUT_SECONDS = 5
    for name in ("flaky-1", "flaky-2", "slow"):
        _hook(release, fleet, name)
    fleet.plans.update({"flaky-1": [503], "flaky-2": [500], "slow": [("slow", 2.5)]})
    _publish(operator, release_on_disk.data.successful()[0].key)
    queued = {}
    started = time.monotonic()

    def recorded(delivery):
        saved = WebhookDelivery.objects.get(pk=delivery.pk)  # what the retry task will read
        queued[delivery.mirror.name] = (time.monotonic() - started, saved.status, saved.next_attempt_at)

    event_fanout(event_id=WebhookDelivery.objects.first().event_id, recorded=recorded)

    for name in ("flaky-1", "flaky-2"):
        after, status, due = queued[name]
        assert status == "pending" and due is not None
        assert after < 1.5, f"{name}'s retry was queued {after:.1f} s in, after the slow receiver"
    assert queued["slow"][1] == "delivered" and queued["slow"][0] >= 2.5
    assert WebhookAttempt.objects.filter(status="failed").count() == 2


def test_a_retry_takes_the_deliveries_of_its_event_that_came_due_with_it(
        release, release_on_disk, operator, fleet, allow_loopback_webhooks):
    from apps.mirrors.selectors import DUE_EARLY, deliveries_due_with

    for name in ("a", "b", "c", "later"):
        _hook(release, fleet, name)
    _publish(operator, release_on_disk.data.successful()[0].key)
    by_name = {d.mirror.name: d for d in WebhookDelivery.objects.select_related("mirror")}
    soon = timezone.now() + DUE_EARLY / 2  # a timer firing a moment early still finds them due
    WebhookDelivery.objects.filter(pk__in=[by_name[n].pk for n in ("a", "b", "c")]).update(
        attempt_count=1, next_attempt_at=soon)
    WebhookDelivery.objects.filter(pk=by_name["later"].pk).update(
        attempt_count=1, next_attempt_at=timezone.now() + datetime.timedelta(seconds=30))

    ids = deliveries_due_with(delivery_id=by_name["b"].pk)

    assert ids[0] == by_name["b"].pk and set(ids) == {by_name[n].pk for n in ("a", "b", "c")}
    from apps.mirrors.tasks import delivery_send_task

    delivery_send_task(by_name["b"].pk)
    assert fleet.received() == {"a", "b", "c"}
    assert {d.mirror.name: d.status for d in WebhookDelivery.objects.select_related("mirror")} == {
        "a": "delivered", "b": "delivered", "c": "delivered", "later": "pending"}
    delivery_send_task(by_name["a"].pk)  # its own task comes later and finds it sent
    assert len(fleet.arrivals["a"]) == 1


def test_a_receiver_trickling_its_answer_is_cut_off_at_the_timeout(release, release_on_disk, operator, fleet,
                                                                   settings, allow_loopback_webhooks):
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    for name in ("trickle", "quick"):
        _hook(release, fleet, name)
    fleet.plans["trickle"] = [("trickle", 30)]  # a byte a second: no single read ever waits 2 s
    _publish(operator, release_on_disk.data.successful()[0].key)

    started = time.monotonic()
    event_fanout(event_id=WebhookDelivery.objects.first().event_id)

    assert time.monotonic() - started < 6
    stuck = WebhookDelivery.objects.get(mirror__name="trickle")
    assert (stuck.status, stuck.attempt_count) == ("pending", 1)
    attempt = stuck.attempts.get()
    assert attempt.status_code is None and attempt.error == "TimeoutError: no complete answer within 2 s"
    assert 1900 <= attempt.duration_ms < 4000
    assert WebhookDelivery.objects.get(mirror__name="quick").status == "delivered"


def test_only_the_start_of_a_large_answer_is_read(release, release_on_disk, operator, fleet, allow_loopback_webhooks):
    _hook(release, fleet, "chatty")
    fleet.plans["chatty"] = [("big", 200 * 1024 * 1024)]
    _publish(operator, release_on_disk.data.successful()[0].key)

    started = time.monotonic()
    delivery = delivery_send(delivery_id=WebhookDelivery.objects.get().pk)

    assert time.monotonic() - started < 5  # 200 MB were not read
    assert delivery.status == "delivered"
    assert delivery.attempts.get().response_excerpt == "x" * 1000


def test_a_retry_after_longer_than_the_backoff_is_honoured(release, release_on_disk, operator, fleet,
                                                            allow_loopback_webhooks):
    for name in ("busy", "date", "greedy", "nonsense"):
        _hook(release, fleet, name)
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=10)
    fleet.plans.update({
        "busy": [("retry-after", 503, "120")],
        "date": [("retry-after", 429, later.strftime("%a, %d %b %Y %H:%M:%S GMT"))],
        "greedy": [("retry-after", 503, str(7 * 24 * 3600))],  # a week: capped at an hour
        "nonsense": [("retry-after", 503, "soon")],  # unreadable: the backoff
    })
    _publish(operator, release_on_disk.data.successful()[0].key)
    before = timezone.now()

    event_fanout(event_id=WebhookDelivery.objects.first().event_id)

    wait = {d.mirror.name: (d.next_attempt_at - before).total_seconds()
            for d in WebhookDelivery.objects.select_related("mirror")}
    assert 119 <= wait["busy"] <= 125
    assert 590 <= wait["date"] <= 605
    assert 3599 <= wait["greedy"] <= 3605
    assert 1 - 0.5 <= wait["nonsense"] <= 2 + 0.5


def test_retry_after_reads_seconds_and_http_dates():
    from apps.mirrors.transport import retry_after_seconds

    now = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.UTC)
    assert retry_after_seconds("30", now) == 30
    assert retry_after_seconds("Sat, 28 Nov 2026 12:05:00 GMT", now) == 300
    assert retry_after_seconds("Sat, 28 Nov 2026 11:00:00 GMT", now) == 0  # in the past: now
    for bad in (None, "", "-5", "1.5", "tomorrow"):
        assert retry_after_seconds(bad, now) is None


def test_a_host_name_that_does_not_resolve_is_tried_again(release, release_on_disk, operator, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    mirror_create(name="typo", datasets=[release.dataset], webhook_url="https://mirror.invalid/hook",
                  actor=Actor.system())
    _publish(operator, release_on_disk.data.successful()[0].key)

    delivery = delivery_send(delivery_id=WebhookDelivery.objects.get().pk)

    assert (delivery.status, delivery.attempt_count) == ("pending", 1)
    assert delivery.attempts.get().error.startswith("cannot resolve mirror.invalid")


def test_the_backoff_doubles_with_jitter():
    for attempt in range(1, 12):
        base = min(2 * 2 ** (attempt - 1), 3600)  # WEBHOOK_RETRY_BASE_SECONDS = 2
        waits = {backoff_seconds(attempt, base=2) for _ in range(20)}
        assert all(base / 2 <= w <= base for w in waits), attempt
        assert len(waits) > 1  # not every delivery comes back at the same second


def test_it_schedules_the_next_try_within_the_jittered_backoff(release, release_on_disk, operator, fleet,
                                                               allow_loopback_webhooks):
    _hook(release, fleet, "flaky")
    fleet.plans["flaky"] = [503]
    _publish(operator, release_on_disk.data.successful()[0].key)
    before = timezone.now()
    delivery = delivery_send(delivery_id=WebhookDelivery.objects.get().pk)
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert delivery.status == "pending" and 1 - 0.5 <= wait <= 2 + 0.5  # the first retry: 1 to 2 s
    attempt = delivery.attempts.get()
    assert (attempt.status, attempt.status_code, attempt.response_excerpt) == ("failed", 503, "ok")


def test_a_redirect_is_a_permanent_failure(release, release_on_disk, operator, fleet, allow_loopback_webhooks):
    _hook(release, fleet, "moved")
    fleet.plans["moved"] = [302]
    _publish(operator, release_on_disk.data.successful()[0].key)
    delivery = delivery_send(delivery_id=WebhookDelivery.objects.get().pk)
    assert (delivery.status, delivery.next_attempt_at) == ("failed", None)
    attempt = delivery.attempts.get()
    assert attempt.status_code == 302 and "do not follow redirects" in attempt.error
    assert len(fleet.arrivals["moved"]) == 1  # the Location was not followed


def test_an_unexpected_error_while_sending_is_a_failed_attempt(release, release_on_disk, operator, fleet,
                                                               allow_loopback_webhooks):
    hooked = _hook(release, fleet, "broken").mirror
    Mirror.objects.filter(pk=hooked.pk).update(webhook_secret="whsec_%%%")  # not base64: the signer raises
    _publish(operator, release_on_disk.data.successful()[0].key)
    delivery = delivery_send(delivery_id=WebhookDelivery.objects.get().pk)
    assert (delivery.status, delivery.attempt_count) == ("pending", 1)
    attempt = delivery.attempts.get()
    assert attempt.status == "failed" and "Error" in attempt.error
    assert fleet.received() == set()


def test_an_attempt_cut_off_by_a_dying_worker_is_closed_on_the_next_try(release, release_on_disk, operator, fleet,
                                                                         allow_loopback_webhooks):
    _hook(release, fleet, "m")
    _publish(operator, release_on_disk.data.successful()[0].key)
    delivery = WebhookDelivery.objects.get()
    # As if a worker claimed it, wrote its attempt row and was killed: the claim has expired since.
    WebhookAttempt.objects.create(delivery=delivery, started_at=timezone.now())
    assert deliveries_due() == [delivery.pk]
    delivery_send(delivery_id=delivery.pk)
    first, second = delivery.attempts.order_by("id")
    assert first.status == "failed" and first.error.startswith("interrupted")
    assert second.status == "succeeded"


def test_a_mirror_with_a_webhook_url_always_has_a_secret(release, fleet, staff_with, allow_loopback_webhooks):
    admin = Actor.for_user(staff_with("boss", "admin"))
    mirror = mirror_create(name="plain", datasets=[release.dataset], actor=Actor.system()).mirror
    assert mirror.webhook_secret == ""
    secret = mirror_update(mirror=mirror, webhook_url=fleet.url("plain"), contact_email="", actor=admin)
    assert secret.startswith("whsec_") and Mirror.objects.get().webhook_secret == secret
    # Changing the URL keeps the secret; removing it drops the secret.
    assert mirror_update(mirror=mirror, webhook_url=fleet.url("other"), contact_email="", actor=admin) == ""
    assert Mirror.objects.get().webhook_secret == secret
    mirror_update(mirror=mirror, webhook_url="", contact_email="ops@x.example", actor=admin)
    assert Mirror.objects.get().webhook_secret == ""
    assert AuditEvent.objects.filter(action="mirror.changed").count() == 3


def test_consecutive_failed_deliveries_disable_the_mirror_and_tell_staff(
        release, release_on_disk, operator, fleet, settings, staff_with, allow_loopback_webhooks):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 2
    staff_with("boss", "admin")
    created = _hook(release, fleet, "gone")
    fleet.plans["gone"] = [410, 204, 410, 410]
    keys = [s.key for s in release_on_disk.data.successful()]

    _publish(operator, keys[0])
    delivery_send(delivery_id=WebhookDelivery.objects.latest("id").pk)  # failed: 1 in a row
    _publish(operator, keys[1])
    delivery_send(delivery_id=WebhookDelivery.objects.latest("id").pk)  # delivered: the count starts again
    assert Mirror.objects.get().consecutive_failures == 0
    _publish(operator, keys[2])
    delivery_send(delivery_id=WebhookDelivery.objects.latest("id").pk)
    assert Mirror.objects.get().active
    _publish(operator, keys[3])
    delivery_send(delivery_id=WebhookDelivery.objects.latest("id").pk)

    mirror = Mirror.objects.get()
    assert mirror.disabled_at is not None
    assert "last 2 webhook deliveries failed" in mirror.disabled_reason and "410" in mirror.disabled_reason
    event = AuditEvent.objects.get(action="mirror.disabled")
    assert (event.actor_label, event.after["webhooks"]) == ("system", "paused")
    [message] = mail.outbox
    assert message.to == ["boss@host.example"] and "webhooks of mirror gone disabled" in message.subject
    assert "Re-enable webhooks" in message.body and "can still sync by polling" in message.body
    # Only its webhooks stop: the mirror still syncs and acknowledges with its token.
    assert mirror.active and mirror_authenticate(token=created.token) == mirror

    # A new event waits, pending, and nothing is sent until the webhooks are re-enabled.
    _publish(operator, keys[4])
    assert deliveries_due() == [] and WebhookDelivery.objects.filter(status="pending").count() == 1
    mirror_reenable(mirror=mirror, actor=Actor.for_user(staff_with("boss2", "admin")))
    mirror.refresh_from_db()
    assert mirror.disabled_at is None and mirror.consecutive_failures == 0 and mirror.disabled_reason == ""
    assert deliveries_due() == [WebhookDelivery.objects.get(status="pending").pk]
    assert AuditEvent.objects.filter(action="mirror.reenabled").exists()


def test_a_disabled_mirrors_pending_deliveries_wait_until_it_is_re_enabled(
        release, release_on_disk, operator, fleet, allow_loopback_webhooks):
    mirror = _hook(release, fleet, "paused").mirror
    _publish(operator, release_on_disk.data.successful()[0].key)
    delivery = WebhookDelivery.objects.get()
    Mirror.objects.filter(pk=mirror.pk).update(disabled_at=timezone.now(), disabled_reason="test")
    assert delivery_send(delivery_id=delivery.pk) is None and deliveries_due() == []
    mirror.refresh_from_db()
    assert mirror_reenable(mirror=mirror, actor=Actor.system()) == [delivery.event_id]  # whose fan-out the admin queues
    event_fanout(event_id=delivery.event_id)
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    headers, body = fleet.bodies["paused"][0]
    assert Webhook(mirror.webhook_secret).verify(body, headers)["data"]["delta_base_version"] is None
