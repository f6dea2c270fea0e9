"""Mirrors: tokens, the feed they pull, webhooks they receive, and their acknowledgements."""
import asyncio
import base64
import logging
import math
import queue
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from apps.audit.services import audit_record
from apps.blocklists.models import BlocklistVersion
from apps.core import faults, mail, net, roles
from apps.core.actors import Actor
from apps.core.backoff import backoff_seconds
from apps.core.errors import NotFoundError, TakedownError
from apps.core.locks import serialize
from apps.datasets.models import Dataset, Release
from apps.events.services import event_record
from apps.mirrors import transport
from apps.mirrors.events import MIRROR_ACKNOWLEDGED
from apps.mirrors.models import (
    Acknowledgement,
    FeedEvent,
    FeedRetention,
    Mirror,
    Subscription,
    WebhookAttempt,
    WebhookDelivery,
)
from apps.mirrors.selectors import DUE_EARLY
from apps.removals.deadlines import staff_addresses
from apps.tokens.services import TokenKind, token_holder, token_issue_check, token_revoke, token_rotate

logger = logging.getLogger(__name__)

MIRROR_TOKENS = TokenKind(name="mirror", prefix="td_mirror_")
SECRET_PREFIX = "whsec_"


def webhook_secret_new() -> str:
    """A new Standard Webhooks signing secret (`whsec_` and 32 random bytes in base64)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _require_admin(actor: Actor, doing: str) -> None:
    # Staff act through the admin and must hold the admin role; operators and the system act from the host.
    if actor.user is not None:
        roles.require_role(actor.user, roles.ADMIN, doing)


@dataclass
class NewMirror:
    mirror: Mirror
    token: str
    webhook_secret: str


def webhook_url_check(*, url: str) -> None:
    """Refuse a webhook URL that sending would refuse: not http(s), or a host with an address that is not public
    (apps.core.net.check_public_url, the check each send makes again).

    A host name that does not resolve yet passes: its DNS may be set up after
    the mirror is registered, and each send checks the name again.
    """
    try:
        net.check_public_url(url)
    except net.LookupFailed:
        pass
    except net.Refused as exc:
        raise TakedownError(f"webhook URL {url[:200]} is refused: {exc}") from None


def _held_check(datasets, releases) -> None:
    """Refuse recording a release held whose dataset the mirror does not subscribe to."""
    names = {d.pk for d in datasets}
    stray = sorted(str(r) for r in releases if r.dataset_id not in names)
    if stray:
        raise TakedownError(f"a mirror can hold only releases of the datasets it subscribes to: not {', '.join(stray)}")


def _release_names(releases) -> list[str]:
    return sorted(str(r) for r in releases)


def mirror_create(*, name: str, datasets: list[Dataset], webhook_url: str = "", contact_email: str = "",
                  actor: Actor, releases: list[Release] = ()) -> NewMirror:
    """Create a mirror subscribed to datasets, holding `releases` of them (none: not recorded, counted against
    every release of its datasets); the token is returned once and stored as a hash."""
    token_issue_check(kind=MIRROR_TOKENS, actor=actor)
    if Mirror.objects.filter(name=name).exists():
        raise TakedownError(f"a mirror named {name!r} already exists")
    _held_check(datasets, releases)
    if webhook_url:
        webhook_url_check(url=webhook_url)
    token, fields = MIRROR_TOKENS.new()
    secret = webhook_secret_new() if webhook_url else ""
    with transaction.atomic():
        mirror = Mirror.objects.create(
            name=name, webhook_url=webhook_url, webhook_secret=secret, contact_email=contact_email, **fields)
        for dataset in datasets:
            Subscription.objects.create(mirror=mirror, dataset=dataset)
        mirror.releases.set(releases)
        audit_record(actor=actor, action="mirror.token_issued", obj=mirror, after={
            "datasets": [d.name for d in datasets], "releases": _release_names(releases), "webhook_url": webhook_url,
            "token_prefix": mirror.token_prefix,
        })
    return NewMirror(mirror=mirror, token=token, webhook_secret=secret)


def mirror_rotate_token(*, mirror: Mirror, actor: Actor) -> str:
    """Issue a new token for a mirror; the old one stops working at once (apps.tokens' rules)."""
    return token_rotate(holder=mirror, kind=MIRROR_TOKENS, actor=actor)


def mirror_rotate_webhook_secret(*, mirror: Mirror, actor: Actor) -> str:
    """Issue a new webhook signing secret; webhooks are signed with it from now on. Returned once."""
    _require_admin(actor, "rotate a mirror's webhook secret")
    if not mirror.webhook_url:
        raise TakedownError(f"mirror {mirror.name!r} has no webhook URL, so no signing secret")
    with transaction.atomic():
        mirror.webhook_secret = webhook_secret_new()
        mirror.save(update_fields=["webhook_secret"])
        audit_record(actor=actor, action="mirror.webhook_secret_rotated", obj=mirror,
                     after={"webhook_url": mirror.webhook_url})
    return mirror.webhook_secret


def mirror_update(*, mirror: Mirror, webhook_url: str, contact_email: str, actor: Actor,
                  datasets: list[Dataset] | None = None, releases: list[Release] | None = None) -> str:
    """Change a mirror's webhook URL, contact address and (when given) the datasets it subscribes to and the
    releases of them it holds; returns a new signing secret when one was made. Audited.

    A mirror with a webhook URL always has a secret: setting a URL on a mirror
    without one generates it (shown once to whoever set the URL). Dropping a
    dataset drops the releases of it the mirror held.
    """
    _require_admin(actor, "change a mirror")
    subscribed = sorted(mirror.subscriptions.values_list("dataset__name", flat=True))
    wanted = subscribed if datasets is None else sorted(d.name for d in datasets)
    held = list(mirror.releases.select_related("dataset"))
    keep = list(Dataset.objects.filter(name__in=wanted))
    if releases is None:  # kept, less those of a dataset it no longer subscribes to
        releases = [r for r in held if r.dataset_id in {d.pk for d in keep}]
    _held_check(keep, releases)
    before = {"webhook_url": mirror.webhook_url, "contact_email": mirror.contact_email, "datasets": subscribed,
              "releases": _release_names(held)}
    after = {"webhook_url": webhook_url, "contact_email": contact_email, "datasets": wanted,
             "releases": _release_names(releases)}
    if before == after:
        return ""
    if webhook_url and webhook_url != mirror.webhook_url:
        webhook_url_check(url=webhook_url)
    new_secret = webhook_secret_new() if webhook_url and not mirror.webhook_secret else ""
    with transaction.atomic():
        mirror.webhook_url, mirror.contact_email = webhook_url, contact_email
        mirror.webhook_secret = new_secret or (mirror.webhook_secret if webhook_url else "")
        mirror.save(update_fields=["webhook_url", "contact_email", "webhook_secret"])
        if datasets is not None:
            mirror.subscriptions.exclude(dataset__in=datasets).delete()
            for dataset in datasets:
                Subscription.objects.get_or_create(mirror=mirror, dataset=dataset)
        mirror.releases.set(releases)
        audit_record(actor=actor, action="mirror.changed", obj=mirror, before=before,
                     after={**after, "secret_generated": bool(new_secret)})
    return new_secret


def mirror_revoke(*, mirror: Mirror, actor: Actor, reason: str = "") -> Mirror:
    """Revoke a mirror for good: its token stops working and its pending webhooks are dropped."""
    now = timezone.now()
    with transaction.atomic():
        revoked = token_revoke(holder=mirror, kind=MIRROR_TOKENS, actor=actor, reason=reason, active=False,
                               disabled_at=now,
                               disabled_reason=f"revoked by {actor.label}" + (f": {reason}" if reason else ""))
        if not revoked:
            raise TakedownError(f"mirror {mirror.name!r} is already revoked")
        WebhookDelivery.objects.filter(mirror=mirror, status=WebhookDelivery.Status.PENDING).update(
            status=WebhookDelivery.Status.FAILED, next_attempt_at=None)
    mirror.refresh_from_db()
    return mirror


def mirror_disable(*, mirror: Mirror, reason: str, actor: Actor) -> bool:
    """Pause a mirror's webhooks until staff re-enable them; staff are emailed.

    The mirror keeps its token: it still syncs by polling the feed and
    acknowledges, and its acknowledgement deadlines still run. Returns False
    when its webhooks were already paused (or it is revoked).
    """
    now = timezone.now()
    with transaction.atomic():
        if not Mirror.objects.filter(pk=mirror.pk, active=True, disabled_at=None).update(
                disabled_at=now, disabled_reason=reason[:300]):
            return False
        audit_record(actor=actor, action="mirror.disabled", obj=mirror, before={"webhooks": "on"},
                     after={"webhooks": "paused", "reason": reason})
    mirror.refresh_from_db()
    mail.send(to=staff_addresses(), subject=f"Takedown: webhooks of mirror {mirror.name} disabled", body=(
        f"The webhooks of mirror {mirror.name} were disabled at {now:%Y-%m-%d %H:%M} UTC: {reason}.\n"
        f"Webhook URL: {mirror.webhook_url or '-'}; contact: {mirror.contact_email or '-'}.\n"
        "No webhooks are sent to it until they are re-enabled in the admin (Mirrors > select it > "
        "Re-enable webhooks); it can still sync by polling, and its acknowledgement deadlines still run. "
        "Its failed deliveries and their attempts are on its page.\n"))
    return True


def mirror_reenable(*, mirror: Mirror, actor: Actor) -> list[int]:
    """Turn a mirror's paused webhooks back on; returns the feed events whose deliveries to it are due again
    (the caller queues their fan-out; the reconciler would find them otherwise)."""
    _require_admin(actor, "re-enable a mirror")
    if mirror.revoked_at is not None:
        raise TakedownError(f"mirror {mirror.name!r} was revoked and cannot be re-enabled: create a new one")
    if mirror.disabled_at is None:
        raise TakedownError(f"the webhooks of mirror {mirror.name!r} are not disabled")
    with transaction.atomic():
        before = {"webhooks": "paused", "disabled_reason": mirror.disabled_reason}
        mirror.disabled_at, mirror.disabled_reason, mirror.consecutive_failures = None, "", 0
        mirror.save(update_fields=["disabled_at", "disabled_reason", "consecutive_failures"])
        pending = WebhookDelivery.objects.filter(mirror=mirror, status=WebhookDelivery.Status.PENDING)
        pending.update(next_attempt_at=timezone.now())
        audit_record(actor=actor, action="mirror.reenabled", obj=mirror, before=before, after={"webhooks": "on"})
    return sorted(set(pending.values_list("event_id", flat=True)))


def mirror_authenticate(*, token: str) -> Mirror | None:
    """The active mirror holding this token, or None; records when it was last seen."""
    return token_holder(queryset=Mirror.objects.filter(active=True), kind=MIRROR_TOKENS, token=token)


def feed_event_payload(version: BlocklistVersion) -> dict:
    """The feed entry (and webhook body) announcing a blocklist version."""
    release = version.release
    base = (
        f"{settings.PUBLIC_BASE_URL}/api/v1/mirror/blocklists/"
        f"{release.dataset.name}/{release.name}/{version.version}/"
    )
    previous = BlocklistVersion.objects.filter(release=release, version__lt=version.version).aggregate(
        v=Max("version"))["v"]
    return {
        "dataset": release.dataset.name,
        "release": release.name,
        "version": version.version,
        "manifest_sha256": version.manifest_sha256,
        "manifest_url": base + "manifest.json",
        "signature_url": base + "manifest.json.sig",
        "files_url": base + "files/",
        # Its delta is against the release's previous version (protocol v2); null for the first.
        "delta_base_version": previous,
    }


def feed_announce(*, blocklist: BlocklistVersion) -> FeedEvent:
    """Announce a blocklist version on the feed, with a webhook delivery to each subscribed mirror; returns its
    feed event. Safe to run again: a version is announced once.

    Feed events are created one transaction at a time, so their ids commit in
    order and a mirror's cursor never skips an event still being written; and
    a release's versions are announced in order, an earlier one not announced
    yet first, so the feed never lists a version before the one it follows.
    """
    with transaction.atomic():
        serialize("mirror-feed")
        missing = (BlocklistVersion.objects.filter(release_id=blocklist.release_id, version__lte=blocklist.version,
                                                   feed_events__isnull=True)
                   .select_related("release__dataset").order_by("version"))
        for version in missing:
            release = version.release
            event = FeedEvent.objects.create(
                type=FeedEvent.Type.BLOCKLIST_PUBLISHED, dataset=release.dataset, release=release,
                blocklist=version, payload=feed_event_payload(version), created_at=timezone.now(),
            )
            mirrors = Mirror.objects.filter(subscriptions__dataset=release.dataset, active=True).exclude(
                webhook_url="")
            WebhookDelivery.objects.bulk_create(
                [WebhookDelivery(mirror=m, event=event, next_attempt_at=event.created_at) for m in mirrors])
    return FeedEvent.objects.get(blocklist=blocklist)


def feed_prune(*, now=None) -> int:
    """Take events older than FEED_RETENTION_DAYS out of the feed and raise its floor; returns how many.

    A release's latest event always stays (a mirror that resyncs starts from
    it), and so does an event with a webhook still pending. Pruned events stay
    in the database, marked: they are the record of when mirrors were notified.
    """
    cutoff = (now or timezone.now()) - timedelta(days=settings.FEED_RETENTION_DAYS)
    with transaction.atomic():
        serialize("mirror-feed")
        latest = list(FeedEvent.objects.values("release_id").annotate(last=Max("pk")).values_list("last", flat=True))
        pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING).values("event_id")
        old = (FeedEvent.objects.filter(pruned_at__isnull=True, created_at__lt=cutoff)
               .exclude(pk__in=latest).exclude(pk__in=pending))
        ids = list(old.values_list("pk", flat=True))
        if not ids:
            return 0
        FeedEvent.objects.filter(pk__in=ids).update(pruned_at=timezone.now())
        retention = FeedRetention.current()
        FeedRetention.objects.filter(pk=retention.pk).update(
            floor=max(retention.floor, max(ids)), pruned_at=timezone.now(),
            pruned_count=F("pruned_count") + len(ids))
    return len(ids)


def ack_record(*, mirror: Mirror, dataset: str, release: str, version: int, status: str,
               detail: str = "") -> Acknowledgement:
    """Record (or update) a mirror's report on applying a blocklist version.

    Every mirror acknowledges every version, so the common case is kept to one
    lookup, one upsert, the audit event and mirror.acknowledged (on which the
    requests it completes are marked, by a worker).
    """
    if status not in Acknowledgement.Status.values:
        raise TakedownError(f"status must be one of {', '.join(Acknowledgement.Status.values)}, got {status!r}")
    blocklist = BlocklistVersion.objects.select_related("release__dataset").filter(
        release__dataset__name=dataset, release__name=release, version=version,
        release__dataset__subscriptions__mirror=mirror,
    ).first()
    if blocklist is None:  # the slow path names what is wrong
        if not mirror.subscriptions.filter(dataset__name=dataset).exists():
            raise TakedownError(f"mirror {mirror.name!r} is not subscribed to dataset {dataset!r}")
        raise NotFoundError(f"no blocklist version {version} of {dataset}/{release}")
    with transaction.atomic():
        # One INSERT ... ON CONFLICT UPDATE: a second report on the same version updates the first.
        (ack,) = Acknowledgement.objects.bulk_create(
            [Acknowledgement(mirror=mirror, blocklist=blocklist, status=status, detail=detail[:5000])],
            update_conflicts=True, unique_fields=["mirror", "blocklist"],
            update_fields=["status", "detail", "updated_at"],
        )
        audit_record(actor=Actor(label=f"mirror:{mirror.name}"), action="mirror.acknowledged", obj=ack,
                     after={"dataset": dataset, "release": release, "version": version, "status": status})
        event_record(MIRROR_ACKNOWLEDGED, mirror=mirror.pk, release=blocklist.release_id, version=version,
                     status=status)
    return ack


# ---------------------------------------------------------------- webhook deliveries

# Status codes worth retrying among the 4xx; every other 4xx is the receiver refusing for good.
_RETRYABLE_4XX = {408, 429}


def _claim_seconds(count: int) -> float:
    """How long claimed deliveries are left to their claimer before the reconciler may try them again: the
    rounds of WEBHOOK_CONCURRENCY sends they take, each bounded by WEBHOOK_TIMEOUT_SECONDS, and one more."""
    rounds = math.ceil(count / settings.WEBHOOK_CONCURRENCY) + 1
    return rounds * settings.WEBHOOK_TIMEOUT_SECONDS + 5


# Outcomes of a fan-out are saved together when they come within this long of each other.
_BATCH_SECONDS = 0.1


async def _send(delivery: WebhookDelivery):
    """One POST; never raises: whatever goes wrong comes back as an outcome, with whether to give up."""
    event = delivery.event
    payload = {"type": event.type, "timestamp": event.created_at.isoformat(), "data": {"id": event.pk, **event.payload}}
    try:
        outcome = await transport.post_signed_async(
            url=delivery.mirror.webhook_url, secret=delivery.mirror.webhook_secret, msg_id=f"td_evt_{event.pk}",
            payload=payload, timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
    except net.Refused as exc:  # for good, but for a name that did not resolve: DNS may answer next time
        return transport.Outcome(None, 0, error=str(exc)[:500]), not isinstance(exc, net.LookupFailed)
    except Exception as exc:  # a bug or a library surprise must not leave the delivery claimed and unrecorded
        logger.exception("webhook delivery %s failed unexpectedly", delivery.pk)
        return transport.Outcome(None, 0, error=f"{type(exc).__name__}: {exc}"[:500]), False
    code = outcome.status_code
    if code is not None and 300 <= code < 400:
        outcome.error = f"answered {code} (a redirect): webhooks do not follow redirects, set the final URL"
        return outcome, True
    return outcome, code is not None and 400 <= code < 500 and code not in _RETRYABLE_4XX


# Put by the sender after its last outcome.
_SENT_ALL = object()


def _send_all(deliveries: list[WebhookDelivery], outcomes: queue.Queue) -> None:
    """Send every delivery from one event loop, WEBHOOK_CONCURRENCY at a time; each outcome into ``outcomes``.

    Runs in a thread of its own and never touches the database (the deliveries come with their mirror and event).
    """
    async def send_all():
        gate = asyncio.Semaphore(settings.WEBHOOK_CONCURRENCY)

        async def one(delivery):
            async with gate:
                outcomes.put((delivery, await _send(delivery)))

        await asyncio.gather(*(one(d) for d in deliveries))

    try:
        asyncio.run(send_all())
    except Exception:  # the deliveries left without an outcome are recorded as interrupted
        logger.exception("the webhook sender stopped")
    finally:
        outcomes.put(_SENT_ALL)


def _succeeded(outcome) -> bool:
    return outcome.status_code is not None and 200 <= outcome.status_code < 300


def _fill(delivery: WebhookDelivery, attempt: WebhookAttempt, outcome) -> bool:
    """Put an outcome on the attempt (not saved); returns whether it delivered."""
    succeeded = _succeeded(outcome)
    attempt.status = WebhookAttempt.Status.SUCCEEDED if succeeded else WebhookAttempt.Status.FAILED
    attempt.status_code, attempt.duration_ms = outcome.status_code, outcome.duration_ms
    attempt.error, attempt.response_excerpt = outcome.error[:500], outcome.body_excerpt[:1000]
    delivery.attempt_count += 1
    return succeeded


def _retry_wait(delivery: WebhookDelivery, outcome) -> float:
    """Seconds until the next try: the backoff, or longer when the receiver asked so (Retry-After, up to an hour)."""
    asked = outcome.retry_after or 0.0
    return max(backoff_seconds(delivery.attempt_count, base=settings.WEBHOOK_RETRY_BASE_SECONDS), min(asked, 3600.0))


def _record_batch(done: list[tuple[WebhookDelivery, WebhookAttempt, transport.Outcome]], recorded=None) -> None:
    """Save a batch of outcomes that delivered or will be tried again, in one transaction; then queue the retries.

    A fan-out to many mirrors has most of its outcomes at once: saving them
    together keeps the worker's time, and with it the first retries, short.
    """
    if not done:
        return
    faults.point("mirrors.webhooks.outcomes")
    now = timezone.now()
    delivered = set()
    for delivery, _, outcome in done:
        if _succeeded(outcome):
            delivered.add(delivery.mirror_id)
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
                WebhookDelivery.Status.DELIVERED, now, None)
        else:
            delivery.next_attempt_at = now + timedelta(seconds=_retry_wait(delivery, outcome))
    with transaction.atomic():
        # Rows that exist, written back as INSERT ... ON CONFLICT (id) DO UPDATE: one plain statement each,
        # where bulk_update would build a CASE expression per row and field.
        WebhookAttempt.objects.bulk_create(
            [a for _, a, _ in done], update_conflicts=True, unique_fields=["pk"],
            update_fields=["status", "status_code", "duration_ms", "error", "response_excerpt"])
        WebhookDelivery.objects.bulk_create(
            [d for d, _, _ in done], update_conflicts=True, unique_fields=["pk"],
            update_fields=["status", "attempt_count", "delivered_at", "next_attempt_at"])
        Mirror.objects.filter(pk__in=delivered).exclude(consecutive_failures=0).update(consecutive_failures=0)
    if recorded is not None:
        for delivery, _, _ in done:
            recorded(delivery)


def _record_failed(delivery: WebhookDelivery, attempt: WebhookAttempt) -> None:
    """Save a delivery that failed for good; a mirror failing too often has its webhooks paused."""
    delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
    with transaction.atomic():
        attempt.save()
        delivery.save(update_fields=["status", "attempt_count", "delivered_at", "next_attempt_at"])
        Mirror.objects.filter(pk=delivery.mirror_id).update(consecutive_failures=F("consecutive_failures") + 1)
    limit = settings.WEBHOOK_DISABLE_AFTER_FAILURES
    mirror = Mirror.objects.get(pk=delivery.mirror_id)
    if mirror.active and mirror.disabled_at is None and mirror.consecutive_failures >= limit:
        mirror_disable(mirror=mirror, actor=Actor.system(), reason=(
            f"its last {mirror.consecutive_failures} webhook deliveries failed "
            f"(last error: {attempt.error or attempt.status_code})"))


def deliveries_send(*, delivery_ids: list[int], recorded=None) -> list[WebhookDelivery]:
    """Try pending, due deliveries at once; returns those this call claimed, with their new state.

    Each row is claimed with a conditional UPDATE, so any number of workers can
    run this for the same deliveries and only one sends each. An attempt row is
    written before the requests go out ("sending"); the requests go out from one
    event loop in a thread of their own (no database work there), up to
    WEBHOOK_CONCURRENCY at a time, each bounded as a whole by
    WEBHOOK_TIMEOUT_SECONDS; each outcome is recorded here as it comes. 2xx
    delivers; 3xx and 4xx other than 408 and 429 fail for good; anything else
    retries with doubling, jittered backoff (or the receiver's longer Retry-After)
    until WEBHOOK_MAX_ATTEMPTS, then fails. `recorded`, when given, is called with
    each delivery as soon as its outcome is saved (to queue its retry).
    """
    now = timezone.now()
    due = WebhookDelivery.objects.filter(pk__in=delivery_ids, status=WebhookDelivery.Status.PENDING,
                                         next_attempt_at__lte=now + DUE_EARLY, mirror__active=True,
                                         mirror__disabled_at=None)
    with transaction.atomic():
        # Rows another worker is claiming are skipped (PostgreSQL); SQLite runs one writer at a time anyway.
        claimed = list(due.select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True))
        WebhookDelivery.objects.filter(pk__in=claimed).update(
            next_attempt_at=now + timedelta(seconds=_claim_seconds(len(claimed))))
    if not claimed:
        return []
    faults.point("mirrors.webhooks.claimed")
    # An attempt still "sending" from an earlier claim was cut off (its worker died) before its outcome.
    WebhookAttempt.objects.filter(delivery_id__in=claimed, status=WebhookAttempt.Status.SENDING).update(
        status=WebhookAttempt.Status.FAILED, error="interrupted: the worker stopped before the outcome was known")
    deliveries = list(WebhookDelivery.objects.select_related("mirror", "event").filter(pk__in=claimed).order_by("pk"))
    attempts = WebhookAttempt.objects.bulk_create([WebhookAttempt(delivery=d, started_at=now) for d in deliveries])
    faults.point("mirrors.webhooks.sending")
    # One thread sends them all from an event loop; this one saves the outcomes as they come. Those that
    # delivered or will be tried again go in batches: a batch is saved once it is 50 long or its first
    # outcome is a tenth of a second old, and its retries are queued then, without waiting for the slowest
    # receiver. A delivery that failed for good is saved at once.
    outcomes: queue.Queue = queue.Queue()
    sender = threading.Thread(target=_send_all, args=(deliveries, outcomes), name="webhook-sender", daemon=True)
    sender.start()
    attempt_of = {d.pk: a for d, a in zip(deliveries, attempts, strict=True)}
    batch: list[tuple[WebhookDelivery, WebhookAttempt, transport.Outcome]] = []
    since = 0.0
    sent_all = False
    while attempt_of and not sent_all:
        try:
            item = outcomes.get(timeout=_BATCH_SECONDS)
        except queue.Empty:
            item = None
        if item is _SENT_ALL:
            sent_all = True
        elif item is not None:
            (delivery, (outcome, permanent)) = item
            attempt = attempt_of.pop(delivery.pk)
            if _fill(delivery, attempt, outcome) or not (
                    permanent or delivery.attempt_count >= settings.WEBHOOK_MAX_ATTEMPTS):
                since = since if batch else time.monotonic()
                batch.append((delivery, attempt, outcome))
            else:
                _record_failed(delivery, attempt)
                if recorded is not None:
                    recorded(delivery)
        if batch and (len(batch) >= 50 or time.monotonic() - since >= _BATCH_SECONDS or not attempt_of):
            _record_batch(batch, recorded)
            batch = []
    # Only when the sender itself broke: what it did not send is an interrupted attempt, tried again later.
    interrupted = transport.Outcome(None, 0, error="interrupted: the sender stopped before this one")
    for delivery in deliveries:
        if delivery.pk in attempt_of:
            attempt = attempt_of.pop(delivery.pk)
            _fill(delivery, attempt, interrupted)
            batch.append((delivery, attempt, interrupted))
    _record_batch(batch, recorded)
    sender.join(timeout=5)
    return deliveries


def delivery_send(*, delivery_id: int) -> WebhookDelivery | None:
    """Try one pending, due webhook delivery; returns it when this call claimed it (see deliveries_send)."""
    sent = deliveries_send(delivery_ids=[delivery_id])
    return sent[0] if sent else None


def event_fanout(*, event_id: int, recorded=None) -> list[WebhookDelivery]:
    """Send all of a feed event's due deliveries at once (see deliveries_send)."""
    ids = list(WebhookDelivery.objects.filter(
        event_id=event_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now(),
    ).order_by("pk").values_list("pk", flat=True))
    return deliveries_send(delivery_ids=ids, recorded=recorded)


def deliveries_retry(*, delivery_ids: list[int]) -> tuple[int, list[int]]:
    """Make failed or pending deliveries due now, from a fresh count of tries; returns how many, and the feed
    events whose fan-out the caller queues (the reconciler would find them otherwise).

    Those of a mirror whose webhooks are disabled wait, pending, until they are re-enabled.
    """
    rows = WebhookDelivery.objects.filter(pk__in=delivery_ids).exclude(status=WebhookDelivery.Status.DELIVERED)
    with transaction.atomic():
        events = set(rows.filter(mirror__active=True, mirror__disabled_at=None).values_list("event_id", flat=True))
        count = rows.update(status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now(), attempt_count=0)
    return count, sorted(events)
