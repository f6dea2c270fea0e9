import json

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from apps.core.actors import Actor
from apps.mirrors.models import WebhookDelivery
from apps.mirrors.selectors import deliveries_due
from apps.mirrors.services import delivery_send, mirror_create
from tests.mirrors.support import publish


@pytest.fixture
def hooked(release, receiver, settings):
    # Registered while loopback is allowed; each test says whether sending to it is (allow_loopback_webhooks).
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True
    created = mirror_create(name="hooked", datasets=[release.dataset], webhook_url=receiver.url, actor=Actor.system())
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    return created


def _publish(operator, key):
    return publish(operator, key, "ncii")


def test_it_queues_one_delivery_per_mirror_and_sends_a_verifiable_webhook(
        hooked, receiver, release_on_disk, operator, allow_loopback_webhooks):
    [version] = _publish(operator, release_on_disk.data.successful()[0].key)
    delivery = WebhookDelivery.objects.get()
    assert delivery.mirror == hooked.mirror and delivery.status == "pending"

    delivery_send(delivery_id=delivery.pk)

    [got] = receiver.wait_for(1)
    payload = Webhook(hooked.webhook_secret).verify(got.body, got.headers)
    assert payload["type"] == "blocklist.published"
    assert payload["data"]["version"] == version.version
    assert payload["data"]["manifest_sha256"] == version.manifest_sha256
    assert got.headers["webhook-id"] == f"td_evt_{delivery.event_id}"
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempt_count == 1
    attempt = delivery.attempts.get()
    assert attempt.status_code == 204 and attempt.duration_ms is not None


def test_it_retries_server_errors_with_the_same_id_and_backs_off(
        hooked, receiver, release_on_disk, operator, allow_loopback_webhooks):
    receiver.statuses = [503, 429]
    _publish(operator, release_on_disk.data.successful()[0].key)
    delivery = WebhookDelivery.objects.get()

    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempt_count == 1
    assert delivery.next_attempt_at > timezone.now()
    assert delivery_send(delivery_id=delivery.pk) is None  # not due yet: nothing sent

    for _ in range(2):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempt_count == 3
    assert [a.status_code for a in delivery.attempts.order_by("id")] == [503, 429, 204]
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1


def test_it_gives_up_on_a_client_error(hooked, receiver, release_on_disk, operator, allow_loopback_webhooks):
    receiver.statuses = [410]
    _publish(operator, release_on_disk.data.successful()[0].key)
    delivery = WebhookDelivery.objects.get()
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.next_attempt_at is None
    assert deliveries_due() == []


def test_it_fails_after_the_last_try(hooked, receiver, release_on_disk, operator, allow_loopback_webhooks, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    receiver.statuses = [500, 500]
    _publish(operator, release_on_disk.data.successful()[0].key)
    delivery = WebhookDelivery.objects.get()
    delivery_send(delivery_id=delivery.pk)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempt_count == 2


def test_it_refuses_private_addresses_unless_allowed(hooked, receiver, release_on_disk, operator):
    _publish(operator, release_on_disk.data.successful()[0].key)
    delivery = WebhookDelivery.objects.get()
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert "non-public address 127.0.0.1" in delivery.attempts.get().error
    assert receiver.received == []


def test_it_sends_a_claimed_delivery_only_once(hooked, receiver, release_on_disk, operator, allow_loopback_webhooks):
    _publish(operator, release_on_disk.data.successful()[0].key)
    delivery = WebhookDelivery.objects.get()
    assert deliveries_due() == [delivery.pk]
    delivery_send(delivery_id=delivery.pk)
    assert delivery_send(delivery_id=delivery.pk) is None
    assert len(receiver.received) == 1
    assert json.loads(receiver.received[0].body)["data"]["dataset"] == "demo"


def test_a_url_stored_before_the_check_is_still_refused_when_sending(hooked, receiver, release_on_disk, operator):
    # As if saved before the check existed: sending judges the address again.
    type(hooked.mirror).objects.filter(pk=hooked.mirror.pk).update(webhook_url="http://[2002:6440:1::1]/hook")
    _publish(operator, release_on_disk.data.successful()[0].key)
    delivery = WebhookDelivery.objects.get()
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert delivery.attempts.get().error.startswith(
        "2002:6440:1::1 resolves to the non-public address 2002:6440:1::1: it carries the 6to4 IPv4 address "
        "100.64.0.1, the shared address space 100.64.0.0/10")
