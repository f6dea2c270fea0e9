"""Mirrors: tokens, the feed they pull, webhooks they receive, and their acknowledgements."""
import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.actors import Actor
from apps.core.errors import TakedownError
from apps.core.locks import serialize
from apps.datasets.models import Dataset
from apps.mirrors.models import Acknowledgement, FeedEvent, Mirror, Subscription, WebhookDelivery

TOKEN_PREFIX = "td_mirror_"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass
class NewMirror:
    mirror: Mirror
    token: str
    webhook_secret: str


def mirror_create(*, name: str, datasets: list[Dataset], webhook_url: str = "", contact_email: str = "",
                  actor: Actor) -> NewMirror:
    """Create a mirror subscribed to datasets; the token is returned once and stored as a hash."""
    if Mirror.objects.filter(name=name).exists():
        raise TakedownError(f"a mirror named {name!r} already exists")
    token = _new_token()
    secret = ("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()) if webhook_url else ""
    with transaction.atomic():
        mirror = Mirror.objects.create(
            name=name, token_hash=token_digest(token), token_prefix=token[: len(TOKEN_PREFIX) + 4],
            webhook_url=webhook_url, webhook_secret=secret, contact_email=contact_email,
        )
        for dataset in datasets:
            Subscription.objects.create(mirror=mirror, dataset=dataset)
        audit_record(actor=actor, action="mirror.token_issued", obj=mirror, after={
            "datasets": [d.name for d in datasets], "webhook_url": webhook_url,
            "token_prefix": mirror.token_prefix,
        })
    return NewMirror(mirror=mirror, token=token, webhook_secret=secret)


def mirror_rotate_token(*, mirror: Mirror, actor: Actor) -> str:
    """Issue a new token for a mirror; the old one stops working at once."""
    token = _new_token()
    with transaction.atomic():
        mirror.token_hash = token_digest(token)
        mirror.token_prefix = token[: len(TOKEN_PREFIX) + 4]
        mirror.save(update_fields=["token_hash", "token_prefix"])
        audit_record(actor=actor, action="mirror.token_issued", obj=mirror,
                     after={"token_prefix": mirror.token_prefix, "rotated": True})
    return token


def mirror_authenticate(*, token: str) -> Mirror | None:
    """The active mirror holding this token, or None; records when it was last seen."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    mirror = Mirror.objects.filter(token_hash=token_digest(token), active=True).first()
    if mirror is not None:
        now = timezone.now()
        if mirror.last_seen_at is None or (now - mirror.last_seen_at).total_seconds() > 60:
            Mirror.objects.filter(pk=mirror.pk).update(last_seen_at=now)
    return mirror


def feed_event_payload(version) -> dict:
    """The feed entry (and webhook body) announcing a blocklist version."""
    release = version.release
    base = (
        f"{settings.PUBLIC_BASE_URL}/api/v1/mirror/blocklists/"
        f"{release.dataset.name}/{release.name}/{version.version}/"
    )
    return {
        "dataset": release.dataset.name,
        "release": release.name,
        "version": version.version,
        "manifest_sha256": version.manifest_sha256,
        "manifest_url": base + "manifest.json",
        "signature_url": base + "manifest.json.sig",
        "files_url": base + "files/",
    }


def feed_event_publish(*, blocklist) -> FeedEvent:
    """Announce a blocklist version on the feed and queue a webhook to each subscribed mirror.

    Feed events are created one transaction at a time, so their ids commit in
    order and a mirror's cursor never skips an event still being written.
    """
    from apps.mirrors.tasks import delivery_send_task

    serialize("mirror-feed")
    release = blocklist.release
    event = FeedEvent.objects.create(
        type=FeedEvent.Type.BLOCKLIST_PUBLISHED, dataset=release.dataset, release=release,
        blocklist=blocklist, payload=feed_event_payload(blocklist), created_at=timezone.now(),
    )
    mirrors = Mirror.objects.filter(subscriptions__dataset=release.dataset, active=True).exclude(webhook_url="")
    deliveries = WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(mirror=m, event=event, next_attempt_at=event.created_at) for m in mirrors]
    )
    for delivery in deliveries:
        transaction.on_commit(lambda pk=delivery.pk: delivery_send_task.delay(pk))
    return event


def ack_record(*, mirror: Mirror, dataset: str, release: str, version: int, status: str,
               detail: str = "") -> Acknowledgement:
    """Record (or update) a mirror's report on applying a blocklist version."""
    from apps.blocklists.models import BlocklistVersion
    from apps.removals.services import requests_complete

    if status not in Acknowledgement.Status.values:
        raise TakedownError(f"status must be one of {', '.join(Acknowledgement.Status.values)}, got {status!r}")
    if not mirror.subscriptions.filter(dataset__name=dataset).exists():
        raise TakedownError(f"mirror {mirror.name!r} is not subscribed to dataset {dataset!r}")
    blocklist = BlocklistVersion.objects.filter(
        release__dataset__name=dataset, release__name=release, version=version
    ).select_related("release").first()
    if blocklist is None:
        raise TakedownError(f"no blocklist version {version} of {dataset}/{release}")
    with transaction.atomic():
        ack, created = Acknowledgement.objects.update_or_create(
            mirror=mirror, blocklist=blocklist, defaults={"status": status, "detail": detail[:5000]}
        )
        audit_record(actor=Actor(label=f"mirror:{mirror.name}"), action="mirror.acknowledged", obj=ack,
                     after={"dataset": dataset, "release": release, "version": version, "status": status})
        if status == Acknowledgement.Status.APPLIED:
            requests_complete(release=blocklist.release)
    return ack


# Status codes worth retrying among the 4xx; every other 4xx is the receiver refusing for good.
_RETRYABLE_4XX = {408, 429}
_CLAIM_SECONDS = 300


def _backoff_seconds(attempt: int) -> int:
    return min(10 * 2 ** (attempt - 1), 3600)


def delivery_send(*, delivery_id: int) -> WebhookDelivery | None:
    """Try one pending, due webhook delivery; returns it when this call claimed it.

    The row is claimed with a conditional UPDATE, so any number of workers can
    run this for the same delivery and only one sends. Each try is recorded as
    an attempt row before the request goes out. 2xx delivers; 4xx other than
    408 and 429 fails for good; anything else retries with doubling backoff
    until WEBHOOK_MAX_ATTEMPTS, then fails.
    """
    from apps.core import net
    from apps.mirrors import transport
    from apps.mirrors.models import WebhookAttempt

    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + timedelta(seconds=_CLAIM_SECONDS))
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("mirror", "event").get(pk=delivery_id)
    attempt = WebhookAttempt.objects.create(delivery=delivery, started_at=now)
    payload = {"type": delivery.event.type, "timestamp": delivery.event.created_at.isoformat(),
               "data": {"id": delivery.event.pk, **delivery.event.payload}}
    try:
        outcome = transport.post_signed(url=delivery.mirror.webhook_url, secret=delivery.mirror.webhook_secret,
                                        msg_id=f"td_evt_{delivery.event.pk}", payload=payload)
    except net.Refused as exc:
        outcome, permanent = transport.Outcome(None, 0, error=str(exc)[:500]), True
    else:
        code = outcome.status_code
        permanent = code is not None and 400 <= code < 500 and code not in _RETRYABLE_4XX
    attempt.status_code = outcome.status_code
    attempt.duration_ms = outcome.duration_ms
    attempt.error = outcome.error
    attempt.response_excerpt = outcome.body_excerpt
    attempt.save()

    delivery.attempt_count += 1
    if outcome.status_code is not None and 200 <= outcome.status_code < 300:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
            WebhookDelivery.Status.DELIVERED, timezone.now(), None)
    elif permanent or delivery.attempt_count >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
    else:
        delivery.next_attempt_at = timezone.now() + timedelta(
            seconds=_backoff_seconds(delivery.attempt_count))
    delivery.save(update_fields=["status", "attempt_count", "delivered_at", "next_attempt_at"])
    return delivery


def deliveries_due() -> list[int]:
    """Pending deliveries whose next try is due (their queue message may have been lost)."""
    return list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now()
        ).values_list("pk", flat=True)[:1000]
    )
