"""Reading mirrors, their feed and where each stands."""
import hashlib

from django.db.models import Max

from apps.mirrors.deadlines import mirror_compliance
from apps.mirrors.models import FeedEvent, FeedRetention, Mirror

FEED_MAX_LIMIT = 500


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
