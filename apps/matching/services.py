"""Recording which samples a removal request hits."""
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core import faults, identifiers, roles
from apps.core.actors import Actor
from apps.core.errors import TakedownError
from apps.core.locks import in_turns
from apps.datasets.models import Release
from apps.events.services import event_record
from apps.matching.events import ALLOW_LIST_CHANGED
from apps.matching.models import AllowListEntry, Match
from apps.matching.selectors import (
    CAUGHT_UP_STATUSES,
    Query,
    hits_for,
    release_not_ready_message,
    request_key_roots,
    request_scope_releases,
)
from apps.removals.models import BLOCKING_STATUSES, OPEN_STATUSES, Identifier, RemovalRequest, Status
from apps.removals.policy import flood_excess, flood_limits
from apps.removals.services import request_flood_hold

# Matches written, and identifiers recounted, per transaction: about 30 ms for 1,000 matches on 2 vCPUs (most of
# it Django building the INSERTs), with turns for other writers between them (in_turns), so on SQLite a web
# request that wants to write waits for a fraction of a second, not for the whole of a large request's matches.
_WRITE_BATCH = 1000


@dataclass
class MatchSummary:
    held: bool  # held by the flood check for a reviewer
    samples: int  # distinct samples hit, in every release
    matches: int
    new_matches: int
    releases: set[int]
    expanded: int
    unmatched: list[Identifier]


def _recount(request: RemovalRequest) -> None:
    """Each identifier's match count, from the table as it stands (so the last of two runs counts all)."""
    count = Match.objects.filter(identifier=OuterRef("pk")).order_by().values("identifier").annotate(
        n=Count("pk")).values("n")
    ids = list(request.identifiers.order_by("pk").values_list("pk", flat=True))
    for chunk in in_turns(ids[start:start + _WRITE_BATCH] for start in range(0, len(ids), _WRITE_BATCH)):
        with transaction.atomic():
            Identifier.objects.filter(pk__gte=chunk[0], pk__lte=chunk[-1], request=request).update(
                match_count=Coalesce(Subquery(count), 0))


def _flood_check(request: RemovalRequest, hits: list, releases: list[Release] | None) -> bool:
    """Hold the request for a reviewer (before its matches are recorded) when what it hits is a flood.

    Counts the distinct samples it hits in each release: those found now, and
    the matches recorded before in releases not matched this time.
    """
    request.refresh_from_db()
    if request.flood_released_at is not None or request.status not in (*OPEN_STATUSES, Status.APPROVED):
        return request.flood_held
    keys: dict[int, set[str]] = defaultdict(set)
    for hit in hits:
        keys[hit.release_id].add(hit.key)
    counts = {release_id: len(found) for release_id, found in keys.items()}
    earlier = Match.objects.filter(request=request)
    if releases is not None:
        earlier = earlier.exclude(release_id__in=[r.pk for r in releases])
        for release_id, n in earlier.order_by().values_list("release_id").annotate(n=Count("key", distinct=True)):
            counts[release_id] = n
    named = {r.pk: r for r in Release.objects.filter(pk__in=counts).select_related("dataset")}
    excess = flood_excess(limits=flood_limits(request), per_release={str(named[pk]): n for pk, n in counts.items()},
                          sizes={str(r): r.sample_count for r in named.values()})
    if excess:
        request = request_flood_hold(request=request, samples=sum(counts.values()), detail=excess)
    return request.flood_held


def request_match(*, request: RemovalRequest, releases: list[Release] | None = None) -> MatchSummary:
    """Match every identifier of a request against releases (all ready ones by default) and record the hits.

    Safe to run again, and beside another run: existing matches are kept and
    new ones added. Matching itself writes nothing; the hits are then written
    in short transactions of their own, with room for other writers between
    them, and the identifiers recounted, so a request of 100,000 identifiers
    never makes another writer wait long.
    URL and key hits expand to the same image elsewhere for the categories in
    settings.EXPAND_SAME_CONTENT_CATEGORIES.
    Before any hit is recorded, a request that would remove more than its
    flood limits (apps.removals.policy.flood_limits) is held for a reviewer
    (request_flood_hold): an approved one goes back to triage, so its samples
    are never on a blocklist until a reviewer approves it.
    A release named in `releases` that is not ready is refused (TakedownError):
    its index is not built, so every identifier would seem to hit nothing.
    A request limited to a dataset (or release) is matched only there: other
    releases named in `releases` are left alone.
    """
    named = releases is not None
    releases = request_scope_releases(request=request, releases=releases)
    if releases is not None and not named:
        # Its scope's releases still indexing are matched once ready (release.ready), as for every request.
        releases = [r for r in releases if r.status == Release.Status.READY]
    if named:
        unready = Release.objects.filter(pk__in=[r.pk for r in releases]).exclude(status=Release.Status.READY)
        for release in unready.select_related("dataset")[:1]:
            raise TakedownError(release_not_ready_message(release=release))
    queries = [Query(ref=pk, kind=kind, value=value)
               for pk, kind, value in request.identifiers.values_list("pk", "kind", "value")]
    hits = hits_for(queries, releases=releases, threshold=request.pdq_threshold,
                    expand=request.category in settings.EXPAND_SAME_CONTENT_CATEGORIES,
                    key_roots=request_key_roots(request=request))
    held = _flood_check(request, hits, releases)
    before = Match.objects.filter(request=request).count()
    rows = [Match(request=request, identifier_id=hit.ref, release_id=hit.release_id, shard_id=hit.shard_id,
                  key=hit.key, distance=hit.distance, expanded=hit.expanded, expanded_via=hit.via) for hit in hits]
    for batch in in_turns(rows[start:start + _WRITE_BATCH] for start in range(0, len(rows), _WRITE_BATCH)):
        with transaction.atomic():
            Match.objects.bulk_create(batch, ignore_conflicts=True)
        faults.point("matching.match.batch_written")
    _recount(request)
    RemovalRequest.objects.filter(pk=request.pk).update(matched_at=timezone.now(), updated_at=timezone.now())
    matches = Match.objects.filter(request=request)
    return MatchSummary(
        held=held, samples=matches.values("release_id", "key").distinct().count(),
        matches=matches.count(), new_matches=matches.count() - before,
        releases=set(matches.values_list("release_id", flat=True).distinct()),
        expanded=matches.filter(expanded=True).count(),
        unmatched=list(request.identifiers.filter(match_count=0).order_by("line", "pk")),
    )


def release_catch_up(*, release: Release) -> list[RemovalRequest]:
    """Match every request under review or approved (and meant for it) against a newly ready release; returns
    those that hit it.

    Requests under review are matched too, so reviewers see what they hit
    there and none of their identifiers is left seeming to hit nothing.
    """
    hit = []
    in_scope = Q(dataset=None) | Q(dataset_id=release.dataset_id, release=None) | Q(release=release)
    for request in RemovalRequest.objects.filter(in_scope, status__in=CAUGHT_UP_STATUSES).order_by("pk"):
        if release.pk in request_match(request=request, releases=[release]).releases:
            hit.append(request)
    return hit


def _affected_releases(entry: AllowListEntry) -> list[int]:
    matches = Match.objects.filter(request__status__in=BLOCKING_STATUSES)
    if entry.scope == AllowListEntry.Scope.SAMPLE:
        matches = matches.filter(release=entry.release, key=entry.key)
    else:
        matches = matches.filter(identifier__kind=entry.kind, identifier__value=entry.value)
    return sorted(set(matches.values_list("release_id", flat=True)))


def allow_list_add(*, actor: Actor, reason: str, kind: str = "", value: str = "", release: Release | None = None,
                   key: str = "") -> AllowListEntry:
    """Record a known false positive: an identifier (kind and value) or one sample (release and key).

    Matching leaves it alone from now on, and blocklists that carry it are
    published again without it (allow_list.changed).
    """
    if not reason.strip():
        raise TakedownError("an allow-list entry needs a reason")
    if release is not None:
        if not key:
            raise TakedownError("an allow-listed sample needs its key")
        scope, kind, value = AllowListEntry.Scope.SAMPLE, "", ""
        existing = AllowListEntry.objects.filter(scope=scope, release=release, key=key, revoked_at=None)
    else:
        try:
            kind = identifiers.parse_kind(kind)
            value = identifiers.normalise(kind, value)
        except identifiers.InvalidIdentifier as exc:
            raise TakedownError(f"allow-list entry: {exc}") from None
        scope, key = AllowListEntry.Scope.IDENTIFIER, ""
        existing = AllowListEntry.objects.filter(scope=scope, kind=kind, value=value, revoked_at=None)
    if existing.exists():
        raise TakedownError(f"{existing.first()} is already on the allow-list")
    with transaction.atomic():
        entry = AllowListEntry.objects.create(scope=scope, kind=kind, value=value, release=release, key=key,
                                              reason=reason.strip(), created_by_label=actor.label)
        audit_record(actor=actor, action="allow_list.added", obj=entry, after={
            "scope": scope, "kind": kind, "value": value, "release": str(release) if release else None,
            "key": key, "reason": entry.reason,
        })
        event_record(ALLOW_LIST_CHANGED, entry=entry.pk, releases=_affected_releases(entry))
    return entry


def allow_list_match(*, match: Match, actor: Actor, reason: str) -> AllowListEntry:
    """Allow-list the sample a match hit (a reviewer's false positive, from the request's page): that sample of
    that release alone, so the next blocklist version of the release un-blocks it (allow_list_add). A staff
    actor needs the reviewer role, and the restricted role for a csam or ncii request's match."""
    if actor.user is not None:
        roles.require_role(actor.user, roles.REVIEWER, "allow-list samples")
        if not roles.may_see(actor.user, match.request.category):
            raise TakedownError(f"only staff with the restricted role may allow-list a {match.request.category} "
                                "request's matches")
    return allow_list_add(actor=actor, reason=reason, release=match.release, key=match.key)


def allow_list_revoke(*, entry: AllowListEntry, actor: Actor) -> AllowListEntry:
    """Take an entry off the allow-list: matching sees it again, and blocklists carry it again."""
    with transaction.atomic():
        entry = AllowListEntry.objects.select_for_update().get(pk=entry.pk)
        if entry.revoked_at is not None:
            raise TakedownError(f"{entry} was already taken off the allow-list")
        entry.revoked_at = timezone.now()
        entry.revoked_by_label = actor.label
        entry.save(update_fields=["revoked_at", "revoked_by_label"])
        audit_record(actor=actor, action="allow_list.revoked", obj=entry, before={"active": True},
                     after={"active": False})
        event_record(ALLOW_LIST_CHANGED, entry=entry.pk, releases=_affected_releases(entry))
    return entry
