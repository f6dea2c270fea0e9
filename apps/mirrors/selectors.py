"""Reading mirrors, their feed and where each stands."""
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Exists, Max, Min, OuterRef, Q
from django.utils import timezone

from apps.blocklists.models import BlocklistVersion
from apps.core.spreadsheets import csv_cell
from apps.datasets.models import Release
from apps.mirrors.deadlines import ack_deadline, mirror_compliance
from apps.mirrors.models import Acknowledgement, FeedEvent, FeedRetention, Mirror, Subscription, WebhookDelivery
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
    """Each mirror with, per release it holds, versions published and applied, lag and deadlines (JSON-ready)."""
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
            # False: it records no release held, so every release of its datasets is counted.
            "releases_recorded": state.recorded,
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


def _holding(release_id: int) -> Q:
    """Mirrors holding a release: recorded as holding it, or recording no release (then every one counts)."""
    held = Mirror.releases.through.objects.filter(mirror_id=OuterRef("pk"))
    return Q(~Exists(held)) | Q(Exists(held.filter(release_id=release_id)))


def _pending_anywhere(request: RemovalRequest) -> bool:
    """Whether some active mirror holding a release has not yet applied a version of it that carries the request."""
    firsts = (BlocklistVersion.objects.filter(requests=request).values("release_id", "release__dataset_id")
              .annotate(first=Min("version")))
    if not firsts:
        return True
    for row in firsts:
        applied = Acknowledgement.objects.filter(
            status=Acknowledgement.Status.APPLIED, blocklist__release_id=row["release_id"],
            blocklist__version__gte=row["first"],
        ).values_list("mirror_id", flat=True)
        mirrors = Mirror.objects.filter(_holding(row["release_id"]), active=True,
                                        subscriptions__dataset_id=row["release__dataset_id"])
        if mirrors.exclude(pk__in=applied).exists():
            return True
    return False


def requests_propagated(*, release: Release) -> list[RemovalRequest]:
    """Published requests hitting this release that every active mirror holding a release they hit has applied.

    Run on every acknowledgement, so the common case (some mirror of this
    release has not applied the request's first version yet) costs three queries.
    """
    candidates = list(RemovalRequest.objects.filter(status=Status.PUBLISHED, blocklist_versions__release=release)
                      .distinct())
    if not candidates:
        return []
    # The newest version each active mirror holding this release applied; the least of them bounds what is complete.
    mirrors = Mirror.objects.filter(_holding(release.pk), active=True,
                                    subscriptions__dataset_id=release.dataset_id).values("pk")
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


# ---------------------------------------------------------------- which mirrors applied a version


APPLIED, STILL_SERVING, OVERDUE, REVOKED, NOT_HELD = "applied", "still serving", "overdue", "revoked", "not held"


@dataclass
class MirrorVersionState:
    """Where one mirror stands on one blocklist version of a release of a dataset it subscribes to."""

    mirror: Mirror
    holds: bool  # holds the version's release (or records no release: then it counts as holding every one)
    recorded: bool  # records the releases it holds
    applied_at: datetime | None = None  # first acknowledged applying this version or a later one
    applied_version: int | None = None
    deadline: datetime | None = None
    overdue: bool = False
    escalated: bool = False

    @property
    def state(self) -> str:
        """applied, overdue, still serving (the samples: not applied yet), revoked or not held."""
        if not self.holds:
            return NOT_HELD
        if self.applied_at is not None:
            return APPLIED
        if not self.mirror.active:
            return REVOKED
        return OVERDUE if self.overdue else STILL_SERVING


def version_mirror_states(*, version: BlocklistVersion, now: datetime | None = None) -> list[MirrorVersionState]:
    """Every mirror subscribed to the dataset of a version's release, by name: whether it holds the release, when
    it acknowledged applying this version or a later one, and whether it is past the version's deadline (the
    rule of mirror_compliance: only active mirrors are overdue)."""
    now = now or timezone.now()
    categories = set(version.requests.values_list("category", flat=True))
    subscriptions = (Subscription.objects.filter(dataset_id=version.release.dataset_id)
                     .select_related("mirror").prefetch_related("mirror__releases").order_by("mirror__name"))
    applied: dict[int, Acknowledgement] = {}
    acks = Acknowledgement.objects.filter(status=Acknowledgement.Status.APPLIED,
                                          blocklist__release_id=version.release_id,
                                          blocklist__version__gte=version.version)
    for ack in acks.select_related("blocklist").order_by("created_at"):
        applied.setdefault(ack.mirror_id, ack)
    states = []
    for sub in subscriptions:
        mirror = sub.mirror
        recorded = {r.pk for r in mirror.releases.all()}
        state = MirrorVersionState(mirror=mirror, holds=not recorded or version.release_id in recorded,
                                   recorded=bool(recorded))
        ack = applied.get(mirror.pk)
        if ack is not None:
            state.applied_at, state.applied_version = ack.created_at, ack.blocklist.version
        else:
            state.deadline, escalation = ack_deadline(published_at=version.created_at, subscribed_at=sub.created_at,
                                                      categories=categories)
            state.overdue = mirror.active and state.holds and now > state.deadline
            state.escalated = state.overdue and now > escalation
        states.append(state)
    return states


@dataclass
class VersionMirrors:
    version: BlocklistVersion
    mirrors: list[MirrorVersionState]  # those holding its release
    not_held: int  # mirrors of the dataset recorded as not holding the release
    # A reinstated request: the first version of the release published since, which un-blocks its samples (None
    # while it is being published), and each holding mirror's state against that version.
    reinstated: bool = False
    unblock: BlocklistVersion | None = None
    unblock_mirrors: list[MirrorVersionState] = field(default_factory=list)


def request_mirror_states(*, request: RemovalRequest) -> list[VersionMirrors]:
    """Per blocklist version that removes a request's samples, each mirror holding its release: applied (when),
    still serving them, or overdue; for a reinstated request, whether each has applied the version that un-blocks
    them. Names mirrors, releases and versions only, never what the request names."""
    found = []
    for version in request.blocklist_versions.select_related("release__dataset").order_by("release_id", "version"):
        states = version_mirror_states(version=version)
        entry = VersionMirrors(version=version, mirrors=[s for s in states if s.holds],
                               not_held=sum(not s.holds for s in states))
        if request.reinstated_at is not None:
            entry.reinstated = True
            # Versions carry their creation time to the second (as their manifests do).
            since = request.reinstated_at.replace(microsecond=0)
            entry.unblock = (BlocklistVersion.objects.filter(release_id=version.release_id, created_at__gte=since,
                                                             version__gt=version.version)
                             .select_related("release__dataset").order_by("version").first())
            if entry.unblock is not None:
                entry.unblock_mirrors = [s for s in version_mirror_states(version=entry.unblock) if s.holds]
        found.append(entry)
    return found


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
