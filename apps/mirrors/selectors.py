"""Reading mirrors, their feed and where each stands."""
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max, Min
from django.utils import timezone

from apps.blocklists.models import BlocklistVersion
from apps.core.spreadsheets import csv_cell
from apps.datasets.models import Release
from apps.mirrors.deadlines import mirror_compliance
from apps.mirrors.models import Acknowledgement, FeedEvent, FeedRetention, Mirror, WebhookDelivery
from apps.removals.models import RemovalRequest, Status

FEED_MAX_LIMIT = 500
# A delivery due this soon is taken now: a retry's timer may fire a moment before the time it was set for.
DUE_EARLY = timedelta(milliseconds=250)


def _visible(mirror: Mirror):
    return FeedEvent.objects.filter(dataset__subscriptions__mirror=mirror, pruned_at__isnull=True)


def feed_page(*, mirror: Mirror, after: int, limit: int) -> tuple[list[FeedEvent], bool, int]:
    """Events after a cursor for the datasets a mirror subscribes to: (events, more, next cursor)."""
    events = list(
        _visible(mirror).filter(pk__gt=after).select_related("dataset", "release", "blocklist").order_by("pk")[
            : limit + 1]
    )
    more = len(events) > limit
    events = events[:limit]
    return events, more, events[-1].pk if events else after


def feed_floor() -> int:
    """The highest pruned event id: a cursor below it has missed events and must resync."""
    return FeedRetention.objects.filter(pk=1).values_list("floor", flat=True).first() or 0


def feed_etag(*, mirror: Mirror, after: int, limit: int) -> str:
    """A weak ETag for a feed page, from what decides its content (two small queries, no page read)."""
    newest = _visible(mirror).aggregate(newest=Max("pk"))["newest"] or 0
    datasets = sorted(mirror.subscriptions.values_list("dataset_id", flat=True))
    key = f"{mirror.pk}:{after}:{limit}:{newest}:{feed_floor()}:{datasets}"
    return f'W/"{hashlib.sha256(key.encode()).hexdigest()[:32]}"'


def feed_resync(*, mirror: Mirror) -> tuple[int, list[FeedEvent]]:
    """Where a mirror whose cursor fell out of the retention window starts again: (cursor, latest events).

    The latest event of each subscribed release (never pruned), up to the
    newest event the mirror can see, which is the cursor to continue from.
    """
    cursor = _visible(mirror).aggregate(newest=Max("pk"))["newest"] or 0
    latest = (FeedEvent.objects.filter(dataset__subscriptions__mirror=mirror, pk__lte=cursor)
              .values("release_id").annotate(last=Max("pk")).values_list("last", flat=True))
    events = list(FeedEvent.objects.filter(pk__in=list(latest)).select_related("release").order_by("pk"))
    return cursor, events


def _iso(moment):
    return moment.isoformat() if moment else None


def mirror_status() -> list[dict]:
    """Each mirror with, per subscribed release, versions published and applied, lag and deadlines (JSON-ready)."""
    rows = []
    for state in mirror_compliance():
        mirror = state.mirror
        rows.append({
            "name": mirror.name,
            "active": mirror.active,
            "disabled_reason": mirror.disabled_reason or None,
            "contact_email": mirror.contact_email or None,
            "webhook_url": mirror.webhook_url or None,
            "last_seen_at": _iso(mirror.last_seen_at),
            "datasets": [s.dataset.name for s in mirror.subscriptions.all()],
            "releases": [{
                "dataset": r.dataset,
                "release": r.release,
                "latest_published": r.latest_published,
                "latest_published_at": _iso(r.latest_published_at),
                "latest_applied": r.latest_applied,
                "latest_applied_at": _iso(r.latest_applied_at),
                "lag": r.lag,
                "lag_seconds": r.lag_seconds,
                "time_to_acknowledge_seconds": r.time_to_acknowledge_seconds,
                "overdue": r.overdue,
                "overdue_version": r.overdue_version,
                "deadline": _iso(r.deadline),
                "escalated": r.escalated,
                "acknowledged": r.acknowledged,
            } for r in state.releases],
        })
    return rows


# ---------------------------------------------------------------- who has a request's removals


@dataclass
class Recipient:
    """A mirror told of an erasure (GDPR Art. 19), and whether it applied it."""

    mirror: str
    contact_email: str
    dataset: str
    release: str
    blocklist_version: int
    notified_at: datetime
    applied_at: datetime | None


def request_recipients(*, request: RemovalRequest) -> list[Recipient]:
    """Every mirror that was told of the request's removals: the list a data subject may ask for."""
    recipients = []
    for version in request.blocklist_versions.select_related("release__dataset").order_by("release_id", "version"):
        release = version.release
        event = version.feed_events.order_by("id").first()
        for mirror in Mirror.objects.filter(subscriptions__dataset=release.dataset).order_by("name"):
            applied = Acknowledgement.objects.filter(
                mirror=mirror, status=Acknowledgement.Status.APPLIED, blocklist__release=release,
                blocklist__version__gte=version.version).order_by("updated_at").first()
            recipients.append(Recipient(
                mirror=mirror.name, contact_email=mirror.contact_email, dataset=release.dataset.name,
                release=release.name, blocklist_version=version.version,
                notified_at=event.created_at if event else version.created_at,
                applied_at=applied.updated_at if applied else None,
            ))
    return recipients


def recipients_rows(*, request: RemovalRequest, contact: bool) -> list[list[str]]:
    """request_recipients as CSV rows, header first; `contact`: with each mirror's address (for staff)."""
    header = ["mirror", *(["contact"] if contact else []), "dataset", "release", "blocklist_version",
              "notified_at", "applied_at"]
    rows = [header]
    for r in request_recipients(request=request):
        rows.append([csv_cell(r.mirror), *([csv_cell(r.contact_email)] if contact else []), csv_cell(r.dataset),
                     csv_cell(r.release), str(r.blocklist_version), r.notified_at.isoformat(),
                     r.applied_at.isoformat() if r.applied_at else ""])
    return rows


def _pending_anywhere(request: RemovalRequest) -> bool:
    """Whether some active mirror has not yet applied a version that carries the request, in any release."""
    firsts = (BlocklistVersion.objects.filter(requests=request).values("release_id", "release__dataset_id")
              .annotate(first=Min("version")))
    if not firsts:
        return True
    for row in firsts:
        applied = Acknowledgement.objects.filter(
            status=Acknowledgement.Status.APPLIED, blocklist__release_id=row["release_id"],
            blocklist__version__gte=row["first"],
        ).values_list("mirror_id", flat=True)
        mirrors = Mirror.objects.filter(active=True, subscriptions__dataset_id=row["release__dataset_id"])
        if mirrors.exclude(pk__in=applied).exists():
            return True
    return False


def requests_propagated(*, release: Release) -> list[RemovalRequest]:
    """Published requests hitting this release that every active mirror of every release they hit has applied.

    Run on every acknowledgement, so the common case (some mirror of this
    release has not applied the request's first version yet) costs three queries.
    """
    candidates = list(RemovalRequest.objects.filter(status=Status.PUBLISHED, blocklist_versions__release=release)
                      .distinct())
    if not candidates:
        return []
    # The newest version each active mirror of this release applied; the least of them bounds what is complete.
    mirrors = Mirror.objects.filter(active=True, subscriptions__dataset_id=release.dataset_id).values("pk")
    applied = dict(Acknowledgement.objects.filter(
        status=Acknowledgement.Status.APPLIED, blocklist__release=release, mirror__in=mirrors,
    ).values("mirror").annotate(newest=Max("blocklist__version")).values_list("mirror", "newest"))
    everyone = min((applied.get(pk, 0) for pk in mirrors.values_list("pk", flat=True)), default=None)
    firsts = dict(BlocklistVersion.objects.filter(release=release, requests__in=candidates)
                  .values("requests").annotate(first=Min("version")).values_list("requests", "first"))
    done = []
    for request in candidates:
        first = firsts.get(request.pk)
        if everyone is not None and (first is None or first > everyone):
            continue  # a mirror of this release has not applied it yet
        if not _pending_anywhere(request):
            done.append(request)
    return done


# ---------------------------------------------------------------- webhook deliveries due


def deliveries_due_with(*, delivery_id: int) -> list[int]:
    """``delivery_id`` and the other pending deliveries of its event due by now (their retries came due together)."""
    event_id = WebhookDelivery.objects.filter(pk=delivery_id).values_list("event_id", flat=True).first()
    if event_id is None:
        return []
    due = WebhookDelivery.objects.filter(event_id=event_id, status=WebhookDelivery.Status.PENDING,
                                         next_attempt_at__lte=timezone.now() + DUE_EARLY).exclude(pk=delivery_id)
    return [delivery_id, *due.order_by("pk").values_list("pk", flat=True)[:999]]


def deliveries_due() -> list[int]:
    """Pending deliveries to mirrors with webhooks on whose next try is due (their queue message may have been lost)."""
    return list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now(), mirror__active=True,
            mirror__disabled_at=None,
        ).values_list("pk", flat=True)[:1000]
    )
