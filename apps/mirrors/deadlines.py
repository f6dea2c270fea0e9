"""Acknowledgement deadlines: which mirrors are behind, by how much, and the reminders about them."""
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.blocklists.models import BlocklistVersion
from apps.core import mail
from apps.mirrors.models import Acknowledgement, AckReminder, Mirror
from apps.removals.deadlines import staff_addresses


def deadline_seconds(categories: set[str]) -> int:
    """How long mirrors have to apply a version carrying requests of these categories (MIRROR_ACK_DEADLINES).

    The most urgent category decides; a version carrying no request (a refresh) gets the longest.
    """
    table = settings.MIRROR_ACK_DEADLINES
    known = [table[c] for c in categories if c in table]
    return min(known) if known else max(table.values())


def duration_text(seconds: int | None) -> str:
    """A lag or a delay for people: minutes, hours or days."""
    if seconds is None:
        return "-"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def ack_deadline(*, published_at: datetime, subscribed_at: datetime, categories: set[str]) -> tuple[datetime, datetime]:
    """(deadline, escalation) of a version for a mirror: from its publication, or the mirror's subscription if
    later, deadline_seconds of its requests' categories; escalated past twice that."""
    start = max(published_at, subscribed_at)
    allowed = timedelta(seconds=deadline_seconds(categories))
    return start + allowed, start + 2 * allowed


def held_releases(mirror: Mirror, releases) -> list:
    """Of `releases` (of a dataset the mirror subscribes to), those it holds: the releases recorded on it, or all
    of them when none is recorded (prefetch `releases` when calling this for many mirrors)."""
    recorded = {r.pk for r in mirror.releases.all()}
    return [r for r in releases if not recorded or r.pk in recorded]


@dataclass
class ReleaseCompliance:
    """Where one mirror stands on one release it subscribes to."""

    dataset: str
    release: str
    latest_published: int | None = None
    latest_published_at: datetime | None = None
    latest_applied: int | None = None
    latest_applied_at: datetime | None = None
    lag: int = 0
    lag_seconds: int = 0  # since the oldest version it has not applied was published
    time_to_acknowledge_seconds: int | None = None  # of the latest version it applied
    overdue: bool = False
    overdue_version: int | None = None  # the oldest version past its deadline
    overdue_version_id: int | None = None
    deadline: datetime | None = None
    escalated: bool = False  # past twice its deadline
    acknowledged: list[dict] = field(default_factory=list)


@dataclass
class MirrorCompliance:
    mirror: Mirror
    releases: list[ReleaseCompliance]
    # False: the mirror records no release held, so every release of its datasets counts.
    recorded: bool = True

    @property
    def overdue(self) -> list[ReleaseCompliance]:
        return [r for r in self.releases if r.overdue]


def mirror_compliance(*, mirrors=None, now: datetime | None = None) -> list[MirrorCompliance]:
    """Per mirror and release it holds: versions published and applied, lag, time to acknowledge, overdue.

    The releases it holds are those recorded on it (held_releases): when none
    is, every release of the datasets it subscribes to.

    A version's deadline runs from its publication (or from the mirror's
    subscription, if later) for deadline_seconds of its requests' categories.
    A mirror is overdue on a release when a version it has not applied (nor a
    later one) is past its deadline; only active mirrors can be overdue.
    """
    now = now or timezone.now()
    mirrors = list((mirrors if mirrors is not None else Mirror.objects.all())
                   .prefetch_related("subscriptions__dataset__releases", "releases").order_by("name"))
    release_ids = {r.pk for m in mirrors for s in m.subscriptions.all() for r in s.dataset.releases.all()}
    versions: dict[int, list[dict]] = {}
    categories: dict[int, set[str]] = {}
    for row in (BlocklistVersion.objects.filter(release_id__in=release_ids)
                .values("pk", "release_id", "version", "created_at", "requests__category")
                .order_by("release_id", "version")):
        if row["pk"] not in categories:
            versions.setdefault(row["release_id"], []).append(row)
            categories[row["pk"]] = set()
        if row["requests__category"]:
            categories[row["pk"]].add(row["requests__category"])
    acks: dict[tuple[int, int], list[Acknowledgement]] = {}
    for ack in (Acknowledgement.objects.filter(mirror__in=mirrors)
                .select_related("blocklist").order_by("blocklist__release_id", "blocklist__version")):
        acks.setdefault((ack.mirror_id, ack.blocklist.release_id), []).append(ack)

    result = []
    for mirror in mirrors:
        rows = []
        for sub in mirror.subscriptions.all():
            for release in held_releases(mirror, sub.dataset.releases.all()):
                published = versions.get(release.pk, [])
                mine = acks.get((mirror.pk, release.pk), [])
                row = ReleaseCompliance(dataset=sub.dataset.name, release=release.name, acknowledged=[
                    {"version": a.blocklist.version, "status": a.status, "detail": a.detail,
                     "at": a.updated_at.isoformat()} for a in mine])
                applied = [a for a in mine if a.status == Acknowledgement.Status.APPLIED]
                if applied:
                    last = applied[-1]
                    row.latest_applied, row.latest_applied_at = last.blocklist.version, last.created_at
                    row.time_to_acknowledge_seconds = int((last.created_at - last.blocklist.created_at)
                                                          .total_seconds())
                if published:
                    row.latest_published = published[-1]["version"]
                    row.latest_published_at = published[-1]["created_at"]
                behind = [v for v in published if v["version"] > (row.latest_applied or 0)]
                row.lag = len(behind)
                if behind:
                    row.lag_seconds = max(0, int((now - behind[0]["created_at"]).total_seconds()))
                for version in behind if mirror.active else []:
                    deadline, escalation = ack_deadline(published_at=version["created_at"],
                                                        subscribed_at=sub.created_at,
                                                        categories=categories[version["pk"]])
                    if now > deadline:
                        row.overdue, row.escalated = True, row.escalated or now > escalation
                        if row.overdue_version is None:
                            row.overdue_version, row.overdue_version_id = version["version"], version["pk"]
                            row.deadline = deadline
                rows.append(row)
        result.append(MirrorCompliance(mirror=mirror, releases=rows, recorded=bool(mirror.releases.all())))
    return result


def _line(mirror: Mirror, row: ReleaseCompliance, now: datetime) -> str:
    late = now - row.deadline
    hours = int(late.total_seconds() // 3600)
    return (f"{'ESCALATED ' if row.escalated else ''}{mirror.name}: {row.dataset}/{row.release} "
            f"v{row.overdue_version} not acknowledged as applied, deadline {row.deadline:%Y-%m-%d %H:%M} UTC "
            f"({hours} h ago); applied v{row.latest_applied or '-'} of v{row.latest_published}")


def ack_reminders_send(*, now: datetime | None = None) -> int:
    """Email staff and each mirror's contact about overdue acknowledgements; returns how many were reported.

    Once a day per mirror and version (and once more the day it passes twice
    its deadline: the subject then says ESCALATED). Safe to run any number of
    times: a reminder row per mirror, version, day and level is the record.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    reported: list[tuple[Mirror, ReleaseCompliance]] = []
    # One transaction: if the staff mail cannot go out, nothing is recorded and the next run retries.
    with transaction.atomic():
        for state in mirror_compliance(now=now):
            for row in state.overdue:
                try:
                    with transaction.atomic():
                        AckReminder.objects.create(mirror=state.mirror, blocklist_id=row.overdue_version_id,
                                                   day=today, escalated=row.escalated)
                except IntegrityError:
                    continue  # already reminded today at this level
                reported.append((state.mirror, row))
        if not reported:
            return 0
        escalated = "ESCALATED: " if any(row.escalated for _, row in reported) else ""
        lines = [_line(mirror, row, now) for mirror, row in reported]
        if not mail.send(to=staff_addresses(),
                         subject=f"{escalated}Takedown: {len(lines)} mirror acknowledgement(s) overdue",
                         body="\n".join(lines) + "\n"):
            transaction.set_rollback(True)
            return 0
    by_mirror: dict[int, list[ReleaseCompliance]] = {}
    for mirror, row in reported:
        by_mirror.setdefault(mirror.pk, []).append(row)
    for mirror in {m.pk: m for m, _ in reported}.values():
        rows = by_mirror[mirror.pk]
        if not mirror.contact_email:
            continue
        flag = "ESCALATED: " if any(r.escalated for r in rows) else ""
        mail.send(to=[mirror.contact_email],
                  subject=f"{flag}Takedown: blocklist update overdue on mirror {mirror.name}",
                  body="Your mirror has not reported applying these blocklist versions in time:\n\n"
                       + "\n".join(_line(mirror, r, now) for r in rows)
                       + "\n\nPlease run the mirror client's sync (it fetches, applies and acknowledges the "
                         "latest version).\n")
    return len(reported)
