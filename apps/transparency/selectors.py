"""The public transparency report: per month or quarter, counts only.

Like Lumen's and GitHub's DMCA statistics, the report publishes aggregates and
nothing that identifies a request, a requester or a removed sample: no
tracking ids, no identifiers (URLs, keys, hashes), no names or addresses, no
dataset or mirror names. Counts are exact (no "<5" suppression): hotlines such
as the IWF publish exact csam figures, and every count here is of requests,
samples or mirrors, never of people. What would be sensitive is tying a
category to particular samples, so samples removed are given as one total,
never by category (a month's "3 csam samples" next to a blocklist version that
added 3 keys would name them).

Periods are calendar months (`2026-11`) and quarters (`2026-Q4`) in the site's
time zone (settings.TIME_ZONE), half-open: [first instant, first instant of the
next period). Every figure is as of the moment the report is computed: a past
period's mirror acknowledgements and reinstatements can still change.

Definitions (the page repeats them):
- received: requests whose received_at falls in the period, by category and by
  channel.
- approved / rejected: requests whose decision (decided_at, the latest approval
  or rejection) falls in the period; approved when it carries an approval
  (approved_at), rejected otherwise. A request rejected, reopened and approved
  later counts once, as approved, in the period of its approval.
- needs information: distinct requests sent back to their requester for more
  information in the period (the audit trail's request.needs_info events; the
  request itself keeps no timestamp for it).
- reinstated: requests restored after a counter-notice (reinstated_at) in the
  period.
- median hours to decision: over requests decided in the period, hours from
  received_at to decided_at; to publication: over requests published in the
  period, hours from received_at to published_at. None without data.
- samples removed: distinct (release, sample key) pairs matched by requests
  published in the period and not since reinstated.
- blocklist versions: versions published (created) in the period.
- mirrors notified: distinct active mirrors subscribed (before the period's
  end) to a dataset that got a new blocklist version in the period, plus
  mirrors sent a webhook for a feed event of the period. Mirrors
  acknowledged: of those, the mirrors that have applied, for every release
  they were told about, the period's last version of that release or a later
  one (blocklists are cumulative).
- models notified: distinct registered models that got an advisory (created) in
  the period; models answered: of those, the models whose owners have answered
  every advisory of the period (any status but affected).
"""
import calendar
import re
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import BigIntegerField, Count, DurationField, ExpressionWrapper, F, Max, Q
from django.db.models.functions import Cast
from django.utils import timezone

from apps.advisories.selectors import advisories_per_period
from apps.audit.models import AuditEvent
from apps.blocklists.models import BlocklistVersion
from apps.core.categories import Category
from apps.matching.models import Match
from apps.mirrors.models import Acknowledgement, Subscription, WebhookDelivery
from apps.removals.models import Channel, RemovalRequest, Status

MONTH = "month"
QUARTER = "quarter"
MIN_YEAR, MAX_YEAR = 1970, 9999
FORMATS = "a month as YYYY-MM (for example 2026-11) or a quarter as YYYY-Qn (for example 2026-Q4)"

_MONTH_RE = re.compile(r"(\d{4})-(\d{2})", re.ASCII)
_QUARTER_RE = re.compile(r"(\d{4})-[Qq]([1-4])", re.ASCII)


class PeriodError(ValueError):
    """A period that cannot be parsed or reported on; the message says what is expected."""


@dataclass(frozen=True)
class Period:
    """A calendar month (number 1-12) or quarter (number 1-4) of a year."""

    kind: str
    year: int
    number: int

    def __post_init__(self) -> None:
        if self.kind not in (MONTH, QUARTER):
            raise PeriodError(f"unknown period kind {self.kind!r}")
        if not MIN_YEAR <= self.year <= MAX_YEAR:
            raise PeriodError(f"year {self.year} is out of range ({MIN_YEAR}-{MAX_YEAR})")
        if not 1 <= self.number <= (12 if self.kind == MONTH else 4):
            raise PeriodError(f"{self.kind} {self.number} does not exist")

    # ------------------------------------------------------------ parse and format

    @classmethod
    def parse(cls, text: str) -> "Period":
        """`2026-11` (a month) or `2026-Q4` (a quarter); anything else raises PeriodError naming both."""
        raw = (text or "").strip()
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        m = (_MONTH_RE.fullmatch(raw) or _QUARTER_RE.fullmatch(raw)) if len(raw) <= 7 else None
        if m is None or (m.re is _MONTH_RE and not 1 <= int(m[2]) <= 12):
            raise PeriodError(f"{shown!r} is not a period: expected {FORMATS}")
        if not MIN_YEAR <= int(m[1]) <= MAX_YEAR:
            raise PeriodError(f"{shown!r} is out of range: periods from {MIN_YEAR} to {MAX_YEAR}, as {FORMATS}")
        return cls(MONTH if m.re is _MONTH_RE else QUARTER, int(m[1]), int(m[2]))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.number:02d}" if self.kind == MONTH else f"{self.year:04d}-Q{self.number}"

    @property
    def is_month(self) -> bool:
        return self.kind == MONTH

    @property
    def label(self) -> str:
        """For people: "November 2026", "Q4 2026 (October to December)"."""
        if self.is_month:
            return f"{calendar.month_name[self.number]} {self.year}"
        first, last = self.months()[0], self.months()[-1]
        return (f"Q{self.number} {self.year} "
                f"({calendar.month_name[first.number]} to {calendar.month_name[last.number]})")

    # ------------------------------------------------------------ boundaries

    @property
    def first_month(self) -> int:
        return self.number if self.is_month else 3 * (self.number - 1) + 1

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.first_month, 1, tzinfo=timezone.get_default_timezone())

    @property
    def end(self) -> datetime:
        """The first instant after the period (the start of the next one)."""
        year, month = self.year, self.first_month + (1 if self.is_month else 3)
        if month > 12:
            year, month = year + 1, month - 12
        return datetime(year, month, 1, tzinfo=timezone.get_default_timezone())

    def has_started(self, now: datetime | None = None) -> bool:
        return self.start <= (now or timezone.now())

    def is_complete(self, now: datetime | None = None) -> bool:
        return self.end <= (now or timezone.now())

    # ------------------------------------------------------------ navigation

    def _shift(self, steps: int) -> "Period":
        per_year = 12 if self.is_month else 4
        index = self.year * per_year + (self.number - 1) + steps
        return Period(self.kind, index // per_year, index % per_year + 1)

    def previous(self) -> "Period | None":
        """The period before, or None before MIN_YEAR."""
        try:
            return self._shift(-1)
        except PeriodError:
            return None

    def next(self) -> "Period | None":
        """The period after, or None after MAX_YEAR."""
        try:
            return self._shift(1)
        except PeriodError:
            return None

    def months(self) -> list["Period"]:
        if self.is_month:
            return [self]
        return [Period(MONTH, self.year, self.first_month + i) for i in range(3)]

    def as_quarter(self) -> "Period":
        return self if not self.is_month else Period(QUARTER, self.year, (self.number - 1) // 3 + 1)

    def as_month(self, now: datetime | None = None) -> "Period":
        """A month: itself, or the quarter's last complete month (its first month while none is complete)."""
        if self.is_month:
            return self
        complete = [m for m in self.months() if m.is_complete(now)]
        return complete[-1] if complete else self.months()[0]

    @classmethod
    def month_of(cls, moment: datetime) -> "Period":
        local = timezone.localtime(moment, timezone.get_default_timezone())
        return cls(MONTH, local.year, local.month)

    @classmethod
    def latest_complete_month(cls, now: datetime | None = None) -> "Period":
        return cls.month_of(now or timezone.now()).previous()


# ---------------------------------------------------------------- the report

OUTCOMES = (
    ("approved", "Approved"),
    ("rejected", "Rejected"),
    ("needs_information", "Needs information"),
    ("reinstated", "Reinstated after counter-notice"),
)
DURATIONS = (
    ("decision", "Median hours from receipt to decision"),
    ("publication", "Median hours from receipt to publication"),
)
TOTAL = "total"


@dataclass(frozen=True)
class Report:
    """Counts for one period; every category and channel is present, with zeros."""

    period: Period
    generated_at: datetime
    received_by_category: dict[str, int]
    received_by_channel: dict[str, int]
    # outcome -> category -> requests
    outcomes: dict[str, dict[str, int]]
    # "decision" / "publication" -> category or "total" -> hours (None: no request to measure)
    median_hours: dict[str, dict[str, float | None]]
    samples_removed: int
    blocklist_versions: int
    mirrors_notified: int
    mirrors_acknowledged: int
    models_notified: int = 0
    models_answered: int = 0
    categories: list[tuple[str, str]] = field(default_factory=lambda: list(Category.choices))
    channels: list[tuple[str, str]] = field(default_factory=lambda: list(Channel.choices))

    @property
    def complete(self) -> bool:
        return self.period.is_complete(self.generated_at)

    @property
    def received_total(self) -> int:
        return sum(self.received_by_category.values())

    def outcome_total(self, outcome: str) -> int:
        return sum(self.outcomes[outcome].values())

    @property
    def decided_total(self) -> int:
        return self.outcome_total("approved") + self.outcome_total("rejected")

    def rows(self) -> list[tuple[str, str, int | float | None]]:
        """(section, group, value), tidy: one row per figure, the CSV export's body."""
        rows: list[tuple[str, str, int | float | None]] = []
        for value, _ in self.categories:
            rows.append(("received_by_category", value, self.received_by_category[value]))
        rows.append(("received_by_category", TOTAL, self.received_total))
        for value, _ in self.channels:
            rows.append(("received_by_channel", value, self.received_by_channel[value]))
        rows.append(("received_by_channel", TOTAL, sum(self.received_by_channel.values())))
        for outcome, _ in OUTCOMES:
            for value, _ in self.categories:
                rows.append((f"outcome_{outcome}", value, self.outcomes[outcome][value]))
            rows.append((f"outcome_{outcome}", TOTAL, self.outcome_total(outcome)))
        for kind, _ in DURATIONS:
            for value, _ in self.categories:
                rows.append((f"median_hours_to_{kind}", value, self.median_hours[kind][value]))
            rows.append((f"median_hours_to_{kind}", TOTAL, self.median_hours[kind][TOTAL]))
        rows += [
            ("samples_removed", TOTAL, self.samples_removed),
            ("blocklist_versions_published", TOTAL, self.blocklist_versions),
            ("mirrors_notified", TOTAL, self.mirrors_notified),
            ("mirrors_acknowledged", TOTAL, self.mirrors_acknowledged),
            ("models_notified", TOTAL, self.models_notified),
            ("models_answered", TOTAL, self.models_answered),
        ]
        return rows


def _in(field_name: str, period: Period) -> Q:
    return Q(**{f"{field_name}__gte": period.start, f"{field_name}__lt": period.end})


def _by(queryset, group: str, values: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(values, 0)
    for key, n in queryset.order_by().values(group).annotate(n=Count("id")).values_list(group, "n"):
        if key in counts:
            counts[key] = n
    return counts


def _median_hours(queryset, start_field: str, end_field: str) -> dict[str, float | None]:
    """Median of end - start per category and overall, in hours.

    Computed in the database by counting, then reading the one or two middle
    values in duration order (LIMIT/OFFSET): memory stays bounded however many
    requests a period holds, and it works the same on SQLite and PostgreSQL.
    """
    known = queryset.filter(**{f"{start_field}__isnull": False, f"{end_field}__isnull": False})
    counts = _by(known, "category", Category.values)
    measured = known.annotate(duration=ExpressionWrapper(F(end_field) - F(start_field), output_field=DurationField()))
    counts[TOTAL] = sum(counts.values())
    medians: dict[str, float | None] = {}
    for key, n in counts.items():
        if not n:
            medians[key] = None
            continue
        rows = measured if key == TOTAL else measured.filter(category=key)
        middle = list(rows.order_by("duration").values_list("duration", flat=True)[(n - 1) // 2: n // 2 + 1])
        medians[key] = sum(d.total_seconds() for d in middle) / len(middle) / 3600
    return medians


def _mirrors(period: Period) -> tuple[int, int]:
    """(mirrors notified, mirrors that applied everything they were told about) for a period."""
    last_versions = (
        BlocklistVersion.objects.filter(_in("created_at", period)).order_by()
        .values("release_id", "release__dataset_id").annotate(last=Max("version"))
    )
    # mirror -> release -> the version it must have applied (or a later one)
    owed: dict[int, dict[int, int]] = {}
    releases_of: dict[int, dict[int, int]] = {}
    for row in last_versions:
        releases_of.setdefault(row["release__dataset_id"], {})[row["release_id"]] = row["last"]
    subscriptions = Subscription.objects.filter(
        dataset_id__in=list(releases_of), created_at__lt=period.end, mirror__active=True,
    ).values_list("mirror_id", "dataset_id")
    for mirror_id, dataset_id in subscriptions:
        for release_id, version in releases_of[dataset_id].items():
            mine = owed.setdefault(mirror_id, {})
            mine[release_id] = max(mine.get(release_id, 0), version)
    deliveries = (
        WebhookDelivery.objects.filter(_in("event__created_at", period)).order_by()
        .values_list("mirror_id", "event__release_id").annotate(version=Max("event__blocklist__version"))
    )
    for mirror_id, release_id, version in deliveries:
        mine = owed.setdefault(mirror_id, {})
        mine[release_id] = max(mine.get(release_id, 0), version)
    if not owed:
        return 0, 0
    applied = {
        (mirror_id, release_id): version
        for mirror_id, release_id, version in Acknowledgement.objects.filter(
            status=Acknowledgement.Status.APPLIED, mirror_id__in=list(owed),
            blocklist__release_id__in={r for mine in owed.values() for r in mine},
        ).order_by().values_list("mirror_id", "blocklist__release_id").annotate(version=Max("blocklist__version"))
    }
    acknowledged = sum(
        1 for mirror_id, mine in owed.items()
        if all(applied.get((mirror_id, release_id), 0) >= version for release_id, version in mine.items())
    )
    return len(owed), acknowledged


def report(period: Period, *, now: datetime | None = None) -> Report:
    """The transparency report of one period, from database aggregates (see the module's definitions)."""
    categories = Category.values
    requests = RemovalRequest.objects.all()

    received = requests.filter(_in("received_at", period))
    decided = requests.filter(_in("decided_at", period))
    published = requests.filter(_in("published_at", period))
    asked = (
        AuditEvent.objects.filter(_in("created_at", period), action=f"request.{Status.NEEDS_INFO}",
                                  object_type=RemovalRequest._meta.label_lower)
        .annotate(request_pk=Cast("object_id", BigIntegerField())).values("request_pk")
    )
    outcomes = {
        "approved": _by(decided.filter(approved_at__isnull=False), "category", categories),
        "rejected": _by(decided.filter(approved_at__isnull=True), "category", categories),
        "needs_information": _by(requests.filter(pk__in=asked), "category", categories),
        "reinstated": _by(requests.filter(_in("reinstated_at", period)), "category", categories),
    }
    samples = (
        Match.objects.filter(_in("request__published_at", period))
        .exclude(request__status=Status.REINSTATED).exclude(request__reinstated_at__isnull=False)
        .order_by().values("release_id", "key").distinct().count()
    )
    notified, acknowledged = _mirrors(period)
    models_notified, models_answered = advisories_per_period(start=period.start, end=period.end)
    return Report(
        period=period,
        generated_at=now or timezone.now(),
        received_by_category=_by(received, "category", categories),
        received_by_channel=_by(received, "channel", Channel.values),
        outcomes=outcomes,
        median_hours={
            "decision": _median_hours(decided, "received_at", "decided_at"),
            "publication": _median_hours(published, "received_at", "published_at"),
        },
        samples_removed=samples,
        blocklist_versions=BlocklistVersion.objects.filter(_in("created_at", period)).count(),
        mirrors_notified=notified,
        mirrors_acknowledged=acknowledged,
        models_notified=models_notified,
        models_answered=models_answered,
    )
