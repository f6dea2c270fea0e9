"""Recording which samples a removal request hits."""
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core import identifiers
from apps.core.actors import Actor
from apps.core.errors import TakedownError
from apps.datasets.models import Release
from apps.matching.models import AllowListEntry, Match
from apps.matching.selectors import Query, hits_for
from apps.removals.models import BLOCKING_STATUSES, Identifier, RemovalRequest


@dataclass
class MatchSummary:
    matches: int
    new_matches: int
    releases: set[int]
    unmatched: list[Identifier]


def request_match(*, request: RemovalRequest, releases: list[Release] | None = None,
                  segment: str | None = None) -> MatchSummary:
    """Match every identifier of a request against releases (all by default) and record the hits.

    Safe to run again, and at the same time for different releases or index
    segments (one Celery task each): existing matches are kept, new ones added,
    and the request row is locked while counts are taken, so the last run
    counts all.
    URL and key hits expand to the same image elsewhere for the categories in
    settings.EXPAND_SAME_CONTENT_CATEGORIES.
    """
    idents = list(request.identifiers.all())
    queries = [Query(ref=ident.pk, kind=ident.kind, value=ident.value) for ident in idents]
    hits = hits_for(
        queries, releases=releases, threshold=request.pdq_threshold, segment=segment,
        expand=request.category in settings.EXPAND_SAME_CONTENT_CATEGORIES,
    )
    with transaction.atomic():
        RemovalRequest.objects.select_for_update().filter(pk=request.pk).first()
        before = Match.objects.filter(request=request).count()
        Match.objects.bulk_create(
            [
                Match(request=request, identifier_id=hit.ref, release_id=hit.release_id,
                      shard_id=hit.shard_id, key=hit.key, distance=hit.distance,
                      expanded=hit.expanded, expanded_via=hit.via)
                for hit in hits
            ],
            ignore_conflicts=True,
            batch_size=2000,
        )
        counts = dict(
            Match.objects.filter(request=request).values_list("identifier").annotate(n=Count("id"))
        )
        for ident in idents:
            ident.match_count = counts.get(ident.pk, 0)
        Identifier.objects.bulk_update(idents, ["match_count"], batch_size=2000)
        request.matched_at = timezone.now()
        request.save(update_fields=["matched_at", "updated_at"])
        total = Match.objects.filter(request=request).count()
    return MatchSummary(
        matches=total,
        new_matches=total - before,
        releases=set(Match.objects.filter(request=request).values_list("release_id", flat=True)),
        unmatched=[ident for ident in idents if ident.match_count == 0],
    )


def _affected_releases(entry: AllowListEntry) -> list[int]:
    matches = Match.objects.filter(request__status__in=BLOCKING_STATUSES)
    if entry.scope == AllowListEntry.Scope.SAMPLE:
        matches = matches.filter(release=entry.release, key=entry.key)
    else:
        matches = matches.filter(identifier__kind=entry.kind, identifier__value=entry.value)
    return sorted(set(matches.values_list("release_id", flat=True)))


def _republish_later(release_ids: list[int]) -> None:
    from apps.blocklists.tasks import release_republish_task

    for release_id in release_ids:
        transaction.on_commit(lambda pk=release_id: release_republish_task.delay(pk))


def allow_list_add(*, actor: Actor, reason: str, kind: str = "", value: str = "", release: Release | None = None,
                   key: str = "") -> AllowListEntry:
    """Record a known false positive: an identifier (kind and value) or one sample (release and key).

    Matching leaves it alone from now on, and blocklists that carry it are
    published again without it.
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
        _republish_later(_affected_releases(entry))
    return entry


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
        _republish_later(_affected_releases(entry))
    return entry
