"""The Overview staff land on (/admin/): what needs doing now, and how the work went lately.

Reads only, each figure with a few aggregate queries (never a loop over matches or samples), and reuses each
stage's own definition of what it reports: deadlines from apps.removals.deadlines, mirror lag and overdue
acknowledgements from apps.mirrors.deadlines.mirror_compliance, background work from
apps.events.selectors.background_health, removed samples from apps.blocklists.selectors.blocking_matches.
"""
import bisect
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import BooleanField, Case, Count, DurationField, ExpressionWrapper, F, Min, Q, Value, When
from django.db.models.functions import TruncWeek
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.visibility import restricted_events
from apps.blocklists.models import BlocklistVersion
from apps.blocklists.selectors import blocking_matches
from apps.core import roles
from apps.core.categories import RESTRICTED_CATEGORIES, Category
from apps.datasets.models import Release, Shard
from apps.events.selectors import Health, background_health
from apps.mirrors.deadlines import MirrorCompliance, duration_text, mirror_compliance
from apps.mirrors.models import Acknowledgement, Mirror, Subscription, WebhookDelivery
from apps.removals import deadlines
from apps.removals.models import Policy, RemovalRequest

URGENT_SHOWN = 8
WEEKS = 12
LAG_DAYS = 30
LAG_MIRRORS_SHOWN = 8
RECENT_SHOWN = 10
RELEASES_SHOWN = 10
# A heat map draws at most this many cells: a release with more shards gets one cell per run of shards.
MAX_CELLS = 4000


# ---------------------------------------------------------------- open requests by time left


@dataclass
class UrgentRequest:
    request: RemovalRequest
    masked: bool  # csam/ncii for staff without restricted: tracking id, category, status and clock only
    seconds_left: int
    soon: bool  # due within Policy.soon_due_hours

    @property
    def overdue(self) -> bool:
        return self.seconds_left < 0

    @property
    def clock(self) -> str:
        if self.overdue:
            return f"overdue by {duration_text(-self.seconds_left)}"
        return f"{duration_text(self.seconds_left)} left"


@dataclass
class RequestDeadlines:
    overdue: int
    due_soon: int
    later: int
    soon_hours: int
    urgent: list[UrgentRequest]

    @property
    def open(self) -> int:
        return self.overdue + self.due_soon + self.later


def requests_by_deadline(*, user, now: datetime | None = None, limit: int = URGENT_SHOWN) -> RequestDeadlines:
    """Requests still waiting (a decision or a publication), counted by time left to their legal deadline, and
    the most urgent few; the counts are those of the queue's ?due=overdue and ?due=soon filters."""
    now = now or timezone.now()
    soon_hours = Policy.current().soon_due_hours
    waiting = RemovalRequest.objects.filter(status__in=deadlines.WAITING)
    total = waiting.count()
    overdue, due_soon = deadlines.requests_overdue().count(), deadlines.requests_due_soon().count()
    restricted = roles.has_role(user, roles.RESTRICTED)  # roles.may_see, asked once for every row
    urgent = [UrgentRequest(r, masked=r.category in RESTRICTED_CATEGORIES and not restricted,
                            seconds_left=int((r.due_at - now).total_seconds()),
                            soon=now <= r.due_at < now + timedelta(hours=soon_hours))
              for r in waiting.order_by("due_at", "pk")[:limit]]
    return RequestDeadlines(overdue=overdue, due_soon=due_soon, later=max(0, total - overdue - due_soon),
                            soon_hours=soon_hours, urgent=urgent)


# ---------------------------------------------------------------- mirrors and webhooks


def mirrors_behind(*, now: datetime | None = None) -> list[MirrorCompliance]:
    """Mirrors behind on some release (mirror_compliance, as the mirror list and `mirror_status` say), those
    past an acknowledgement deadline first; each keeps only the releases it is behind on."""
    behind = []
    for state in mirror_compliance(now=now):
        rows = [r for r in state.releases if r.lag or r.overdue]
        if rows:
            behind.append(MirrorCompliance(mirror=state.mirror, releases=rows))
    behind.sort(key=lambda s: (not any(r.escalated for r in s.releases), not s.overdue,
                               -max(r.lag_seconds for r in s.releases), s.mirror.name))
    return behind


@dataclass
class Webhooks:
    retrying: int  # pending after a failed try
    given_up: int  # failed for good (staff may retry them)
    recent: list[WebhookDelivery]
    disabled: list[Mirror]  # active mirrors whose webhooks were turned off after failures


def webhooks_failing(*, limit: int = 5) -> Webhooks:
    """Webhook deliveries failing now: retrying or given up, the latest few, and mirrors whose webhooks stopped."""
    failing = Q(status=WebhookDelivery.Status.FAILED) | Q(status=WebhookDelivery.Status.PENDING,
                                                           attempt_count__gt=0)
    counts = WebhookDelivery.objects.filter(failing).aggregate(
        retrying=Count("pk", filter=Q(status=WebhookDelivery.Status.PENDING)),
        given_up=Count("pk", filter=Q(status=WebhookDelivery.Status.FAILED)))
    recent = list(WebhookDelivery.objects.filter(failing).select_related("mirror", "event__release__dataset")
                  .order_by("-id")[:limit])
    disabled = list(Mirror.objects.filter(active=True, disabled_at__isnull=False).order_by("name"))
    return Webhooks(retrying=counts["retrying"], given_up=counts["given_up"], recent=recent, disabled=disabled)


# ---------------------------------------------------------------- background work


@dataclass
class Background:
    health: Health
    scheduler_alive: bool
    warnings: list[str] = field(default_factory=list)


def background_state(*, now: datetime | None = None) -> Background:
    """Handler runs by state and whether workers and the scheduler are alive, by background_health's rules."""
    now = now or timezone.now()
    health = background_health(now=now)
    state = Background(health=health, scheduler_alive=health.scheduler_alive)
    if not health.workers_alive:
        state.warnings.append("No worker is running: background work is not being done.")
    if not state.scheduler_alive:
        state.warnings.append("The scheduler (celery beat) is not running: work a crashed worker left is not "
                              "resumed and periodic tasks (reminders, refreshes) do not run.")
    return state


# ---------------------------------------------------------------- releases


@dataclass
class Releases:
    importing: list[Release]  # annotated: shards_total, shards_indexed
    failed: list[Release]
    ready: list[Release]


def releases_state(*, limit: int = RELEASES_SHOWN) -> Releases:
    """Releases being imported (shards indexed of all), the failed ones, and the latest ready ones."""
    shards = {"shards_total": Count("shards"),
              "shards_indexed": Count("shards", filter=Q(shards__indexed_at__isnull=False))}
    base = Release.objects.select_related("dataset")
    return Releases(
        importing=list(base.filter(status=Release.Status.INDEXING).annotate(**shards).order_by("imported_at")),
        failed=list(base.filter(status=Release.Status.FAILED).order_by("-imported_at")[:limit]),
        ready=list(base.filter(status=Release.Status.READY).order_by("-indexed_at", "-pk")[:limit]),
    )


# ---------------------------------------------------------------- recent audit events


def audit_recent(*, user, limit: int = RECENT_SHOWN) -> list[AuditEvent]:
    """The latest audit events; `actor_hidden` on those of csam/ncii requests for staff without restricted (as
    the audit admin hides who acted on them)."""
    hidden = Value(False) if roles.has_role(user, roles.RESTRICTED) else Case(
        When(restricted_events(), then=Value(True)), default=Value(False), output_field=BooleanField())
    return list(AuditEvent.objects.annotate(actor_hidden=hidden).order_by("-id")[:limit])


# ---------------------------------------------------------------- charts' data


def _week_start(moment: datetime) -> date:
    day = timezone.localtime(moment).date() if timezone.is_aware(moment) else moment.date()
    return day - timedelta(days=day.weekday())


@dataclass
class Weekly:
    weeks: list[date]
    categories: list[tuple[str, str]]
    received: dict[str, list[int]]  # category -> count per week
    completed: dict[str, list[int]]


def requests_weekly(*, now: datetime | None = None, weeks: int = WEEKS) -> Weekly:
    """Requests received and completed per week (Monday to Sunday) and category, over the last `weeks` weeks."""
    now = now or timezone.now()
    first = _week_start(now) - timedelta(weeks=weeks - 1)
    start = timezone.make_aware(datetime.combine(first, datetime.min.time()))
    days = [first + timedelta(weeks=i) for i in range(weeks)]
    categories = list(Category.choices)
    result = Weekly(weeks=days, categories=categories,
                    received={c: [0] * weeks for c, _ in categories},
                    completed={c: [0] * weeks for c, _ in categories})
    for column, counts in (("received_at", result.received), ("completed_at", result.completed)):
        rows = (RemovalRequest.objects.filter(**{f"{column}__gte": start}).annotate(week=TruncWeek(column))
                .values("week", "category").annotate(n=Count("pk")).order_by())
        for row in rows:
            index = (_week_start(row["week"]) - first).days // 7
            if 0 <= index < weeks and row["category"] in counts:
                counts[row["category"]][index] += row["n"]
    return result


# Upper bounds of the histograms' buckets; the last bucket is open.
BUCKETS = [(timedelta(hours=1), "under 1 h"), (timedelta(hours=6), "1–6 h"), (timedelta(hours=24), "6–24 h"),
           (timedelta(days=2), "1–2 d"), (timedelta(days=7), "2–7 d"), (timedelta(days=30), "7–30 d"),
           (None, "30 d or more")]


@dataclass
class Histogram:
    buckets: list[tuple[str, int]]
    waiting: int = 0  # not there yet (e.g. published, a mirror has not applied it)

    @property
    def total(self) -> int:
        return sum(n for _, n in self.buckets)


def _bounds():
    low = timedelta(0)
    for high, label in BUCKETS:
        yield low, high, label
        low = high


def bucket_of(took: timedelta) -> int:
    """The index of the histogram bucket a duration falls in."""
    for index, (_, high, _) in enumerate(_bounds()):
        if high is None or took < high:
            return index
    return len(BUCKETS) - 1


def time_to_publish(*, now: datetime | None = None, weeks: int = WEEKS) -> Histogram:
    """How long requests received in the last `weeks` weeks took from receipt to publication (one query)."""
    now = now or timezone.now()
    took = ExpressionWrapper(F("published_at") - F("received_at"), output_field=DurationField())
    rows = RemovalRequest.objects.filter(received_at__gte=now - timedelta(weeks=weeks),
                                         published_at__isnull=False).annotate(took=took)
    counts = rows.aggregate(**{f"b{i}": Count("pk", filter=Q(took__gte=low) & (Q(took__lt=high) if high else Q()))
                               for i, (low, high, _) in enumerate(_bounds())})
    return Histogram(buckets=[(label, counts[f"b{i}"]) for i, (_, _, label) in enumerate(_bounds())])


def time_to_last_ack(*, now: datetime | None = None, weeks: int = WEEKS) -> Histogram:
    """How long published requests received in the last `weeks` weeks took from receipt to the last mirror's
    acknowledgement of applying a version that carries them.

    A request's samples leave a mirror of a release when the mirror applies the first version of that release
    carrying the request, or any later one; its last acknowledgement is the latest of those over every active
    mirror of every release it hit. A request some active mirror has not applied yet counts as waiting; one
    hitting releases no active mirror holds is left out. Three queries; the loop is over requests and mirrors.
    """
    now = now or timezone.now()
    firsts = list(BlocklistVersion.objects.filter(requests__received_at__gte=now - timedelta(weeks=weeks),
                                                  requests__published_at__isnull=False)
                  .values("requests", "requests__received_at", "release_id", "release__dataset_id")
                  .annotate(first=Min("version")).order_by())
    releases = {row["release_id"] for row in firsts}
    mirrors: dict[int, list[int]] = {}
    for dataset_id, mirror_id in Subscription.objects.filter(mirror__active=True).values_list("dataset_id",
                                                                                               "mirror_id"):
        mirrors.setdefault(dataset_id, []).append(mirror_id)
    # Per (mirror, release): versions applied, ascending, and the earliest applying time from each one up.
    applied: dict[tuple[int, int], list[tuple[int, datetime]]] = {}
    for mirror_id, release_id, version, at in (Acknowledgement.objects.filter(
            status=Acknowledgement.Status.APPLIED, blocklist__release_id__in=releases)
            .values_list("mirror_id", "blocklist__release_id", "blocklist__version", "updated_at")
            .order_by("blocklist__version")):
        applied.setdefault((mirror_id, release_id), []).append((version, at))
    earliest: dict[tuple[int, int], tuple[list[int], list[datetime]]] = {}
    for key, acks in applied.items():
        suffix, best = [], None
        for _, at in reversed(acks):
            best = at if best is None or at < best else best
            suffix.append(best)
        earliest[key] = ([v for v, _ in acks], suffix[::-1])

    last: dict[int, datetime | None] = {}  # None: some mirror has not applied it yet
    received: dict[int, datetime] = {}
    for row in firsts:
        request_id = row["requests"]
        received[request_id] = row["requests__received_at"]
        for mirror_id in mirrors.get(row["release__dataset_id"], []):
            versions, times = earliest.get((mirror_id, row["release_id"]), ([], []))
            at = bisect.bisect_left(versions, row["first"])
            when = times[at] if at < len(versions) else None
            if when is None or request_id not in last:
                last[request_id] = when
            elif last[request_id] is not None:
                last[request_id] = max(last[request_id], when)
    histogram = Histogram(buckets=[(label, 0) for _, label in BUCKETS])
    counts = [0] * len(BUCKETS)
    for request_id, at in last.items():
        if at is None:
            histogram.waiting += 1
        else:
            counts[bucket_of(max(timedelta(0), at - received[request_id]))] += 1
    histogram.buckets = [(label, counts[i]) for i, (_, label) in enumerate(BUCKETS)]
    return histogram


@dataclass
class LagHistory:
    days: list[date]
    series: list[tuple[Mirror, list[int]]]  # versions behind at the end of each day, summed over its releases
    more: int = 0  # mirrors left out (the least behind)


def mirror_lag_history(*, now: datetime | None = None, days: int = LAG_DAYS,
                       shown: int = LAG_MIRRORS_SHOWN) -> LagHistory:
    """Per active mirror, how many blocklist versions it was behind at the end of each of the last `days` days.

    The rule of mirror_compliance at each moment: versions of the releases of its datasets published by then
    and newer than the newest one it had applied by then (an acknowledgement's time of applying is when it was
    last updated), so today's point is mirror_compliance's lag. Three queries.
    """
    now = now or timezone.now()
    today = timezone.localtime(now).date()
    day_list = [today - timedelta(days=days - 1 - i) for i in range(days)]
    ends = [min(now, timezone.make_aware(datetime.combine(d + timedelta(days=1), datetime.min.time())))
            for d in day_list]
    mirrors = {m.pk: m for m in Mirror.objects.filter(active=True)}
    releases_of: dict[int, set[int]] = {}
    for mirror_id, release_id in Subscription.objects.filter(mirror__in=mirrors.values()).values_list(
            "mirror_id", "dataset__releases"):
        if release_id is not None:
            releases_of.setdefault(mirror_id, set()).add(release_id)
    releases = set().union(*releases_of.values()) if releases_of else set()
    published: dict[int, list[tuple[int, datetime]]] = {}
    for release_id, version, at in (BlocklistVersion.objects.filter(release_id__in=releases)
                                    .values_list("release_id", "version", "created_at").order_by("version")):
        published.setdefault(release_id, []).append((version, at))
    applied: dict[tuple[int, int], list[tuple[datetime, int]]] = {}
    for mirror_id, release_id, version, at in (Acknowledgement.objects.filter(
            status=Acknowledgement.Status.APPLIED, mirror__in=mirrors.values(), blocklist__release_id__in=releases)
            .values_list("mirror_id", "blocklist__release_id", "blocklist__version", "updated_at")
            .order_by("updated_at")):
        applied.setdefault((mirror_id, release_id), []).append((at, version))
    # Versions are numbered in order of publication: those published by a moment are a prefix of the list.
    published_at = {r: [at for _, at in rows] for r, rows in published.items()}
    published_version = {r: [v for v, _ in rows] for r, rows in published.items()}
    newest_by: dict[tuple[int, int], tuple[list[datetime], list[int]]] = {}
    for key, acks in applied.items():
        highest, running = [], 0
        for _, version in acks:
            running = max(running, version)
            highest.append(running)
        newest_by[key] = ([at for at, _ in acks], highest)

    def behind_at(mirror_id: int, release_id: int, end: datetime) -> int:
        times, highest = newest_by.get((mirror_id, release_id), ([], []))
        seen = bisect.bisect_right(times, end)
        newest = highest[seen - 1] if seen else 0
        out = bisect.bisect_right(published_at.get(release_id, []), end)
        return out - min(out, bisect.bisect_right(published_version.get(release_id, []), newest))

    series = [(mirror, [sum(behind_at(mirror_id, r, end) for r in releases_of.get(mirror_id, ())) for end in ends])
              for mirror_id, mirror in mirrors.items()]
    series.sort(key=lambda s: (-max(s[1], default=0), -s[1][-1] if s[1] else 0, s[0].name))
    return LagHistory(days=day_list, series=series[:shown], more=max(0, len(series) - shown))


# ---------------------------------------------------------------- a release's shard heat map


@dataclass
class Cell:
    label: str  # a shard's name, or the first and last of a run of shards
    samples: int
    removed: int


@dataclass
class Heatmap:
    release: Release
    cells: list[Cell]
    shards: int
    shards_per_cell: int
    removed: int  # samples removed in the release (not allow-listed, of approved/published/completed requests)
    shards_hit: int

    @property
    def most(self) -> int:
        return max((c.removed for c in self.cells), default=0)

    def top(self, limit: int = 50) -> list[Cell]:
        return sorted((c for c in self.cells if c.removed), key=lambda c: (-c.removed, c.label))[:limit]


def release_heatmap(*, release: Release, max_cells: int = MAX_CELLS) -> Heatmap:
    """Removed samples per shard of a release, in shard order: blocking_matches (what its blocklists carry,
    decoys aside) counted by shard in one query. A release with more than `max_cells` shards is drawn with
    one cell per run of consecutive shards. Counts only: no key, identifier or request."""
    removed = dict(blocking_matches(release).order_by().values("shard_id").annotate(n=Count("key", distinct=True))
                   .values_list("shard_id", "n"))
    shards = list(Shard.objects.filter(release=release).order_by("name").values_list("pk", "name", "sample_count"))
    per_cell = max(1, math.ceil(len(shards) / max_cells))
    cells = []
    for start in range(0, len(shards), per_cell):
        run = shards[start:start + per_cell]
        label = run[0][1] if len(run) == 1 else f"{run[0][1]}–{run[-1][1]}"
        cells.append(Cell(label=label, samples=sum(s[2] for s in run), removed=sum(removed.get(s[0], 0) for s in run)))
    return Heatmap(release=release, cells=cells, shards=len(shards), shards_per_cell=per_cell,
                   removed=sum(removed.values()), shards_hit=sum(1 for n in removed.values() if n))
