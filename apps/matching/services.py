"""Recording which samples a removal request hits."""
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from apps.datasets.models import Release
from apps.matching.models import Match
from apps.matching.selectors import Query, hits_for
from apps.removals.models import Identifier, RemovalRequest


@dataclass
class MatchSummary:
    matches: int
    new_matches: int
    releases: set[int]
    unmatched: list[Identifier]


def request_match(*, request: RemovalRequest, releases: list[Release] | None = None) -> MatchSummary:
    """Match every identifier of a request against releases (all by default) and record the hits.

    Safe to run again: existing matches are kept, new ones (new releases) added.
    URL and key hits expand to the same image elsewhere for the categories in
    settings.EXPAND_SAME_CONTENT_CATEGORIES.
    """
    idents = list(request.identifiers.all())
    queries = [Query(ref=ident.pk, kind=ident.kind, value=ident.value) for ident in idents]
    hits = hits_for(
        queries, releases=releases,
        expand=request.category in settings.EXPAND_SAME_CONTENT_CATEGORIES,
    )
    with transaction.atomic():
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
