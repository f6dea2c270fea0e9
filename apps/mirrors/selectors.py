"""Reading mirrors, their feed and where each stands."""
from django.db.models import Max

from apps.blocklists.models import BlocklistVersion
from apps.mirrors.models import Acknowledgement, FeedEvent, Mirror

FEED_MAX_LIMIT = 500


def feed_page(*, mirror: Mirror, after: int, limit: int) -> tuple[list[FeedEvent], bool, int]:
    """Events after a cursor for the datasets a mirror subscribes to: (events, more, next cursor)."""
    events = list(
        FeedEvent.objects.filter(pk__gt=after, dataset__subscriptions__mirror=mirror)
        .select_related("dataset", "release", "blocklist")
        .order_by("pk")[: limit + 1]
    )
    more = len(events) > limit
    events = events[:limit]
    return events, more, events[-1].pk if events else after


def mirror_status() -> list[dict]:
    """Each mirror with, per subscribed release, the latest published and acknowledged versions."""
    latest = {
        row["release_id"]: row["latest"]
        for row in BlocklistVersion.objects.values("release_id").annotate(latest=Max("version"))
    }
    rows = []
    for mirror in Mirror.objects.prefetch_related("subscriptions__dataset__releases"):
        acks = (
            Acknowledgement.objects.filter(mirror=mirror)
            .select_related("blocklist__release__dataset")
            .order_by("blocklist__release_id", "blocklist__version")
        )
        by_release: dict[int, list[Acknowledgement]] = {}
        for ack in acks:
            by_release.setdefault(ack.blocklist.release_id, []).append(ack)
        releases = []
        for sub in mirror.subscriptions.all():
            for release in sub.dataset.releases.all():
                mine = by_release.get(release.pk, [])
                applied = [a.blocklist.version for a in mine if a.status == Acknowledgement.Status.APPLIED]
                published = latest.get(release.pk)
                releases.append({
                    "dataset": sub.dataset.name,
                    "release": release.name,
                    "latest_published": published,
                    "latest_applied": max(applied) if applied else None,
                    "lag": (published - (max(applied) if applied else 0)) if published else 0,
                    "acknowledged": [
                        {"version": a.blocklist.version, "status": a.status, "detail": a.detail,
                         "at": a.updated_at.isoformat()}
                        for a in mine
                    ],
                })
        rows.append({
            "name": mirror.name,
            "active": mirror.active,
            "webhook_url": mirror.webhook_url or None,
            "last_seen_at": mirror.last_seen_at.isoformat() if mirror.last_seen_at else None,
            "datasets": [s.dataset.name for s in mirror.subscriptions.all()],
            "releases": releases,
        })
    return rows
