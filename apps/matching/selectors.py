"""Finding the samples a list of identifiers hits, in any set of releases."""
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core import identifiers, pdq
from apps.datasets.models import Release, Sample

_CHUNK = 500  # values per IN (...) query: well under SQLite's variable limit
_PDQ_CHUNK = 200_000  # corpus hashes held in memory at once


@dataclass(frozen=True)
class Query:
    """One identifier to look up; `ref` is the caller's handle for it (an index or a row id)."""

    ref: object
    kind: str
    value: str


@dataclass(frozen=True)
class Hit:
    ref: object
    release_id: int
    shard_id: int
    shard: str
    key: str
    distance: int = 0
    expanded: bool = False
    via: str = ""


_SAMPLE_FIELDS = ("release_id", "shard_id", "shard__name", "key", "url", "md5", "sha1", "sha256")


def _chunks(values: Sequence, size: int = _CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _hit(ref, row: dict, **extra) -> Hit:
    return Hit(ref=ref, release_id=row["release_id"], shard_id=row["shard_id"], shard=row["shard__name"],
               key=row["key"], **extra)


def _exact(queries: list[Query], samples, field: str, lookup_value=lambda q: q.value,
           verify=None) -> tuple[list[Hit], list[tuple[Query, dict]]]:
    by_value: dict = {}
    for query in queries:
        by_value.setdefault(lookup_value(query), []).append(query)
    hits, direct = [], []
    for chunk in _chunks(list(by_value)):
        for row in samples.filter(**{f"{field}__in": chunk}).values(*dict.fromkeys((*_SAMPLE_FIELDS, field))):
            for query in by_value.get(row[field], ()):
                if verify is None or verify(query, row):
                    hits.append(_hit(query.ref, row))
                    direct.append((query, row))
    return hits, direct


def _pdq(queries: list[Query], samples, threshold: int) -> list[Hit]:
    if not queries:
        return []
    words = pdq.to_words([q.value for q in queries])
    reliable = samples.filter(pdq__isnull=False).filter(
        Q(pdq_quality__isnull=True) | Q(pdq_quality__gte=settings.PDQ_MIN_QUALITY)
    )
    hits = []
    rows = reliable.values_list("pdq", *_SAMPLE_FIELDS[:4]).order_by("id").iterator(chunk_size=20_000)
    while True:
        chunk = [row for _, row in zip(range(_PDQ_CHUNK), rows, strict=False)]
        if not chunk:
            return hits
        corpus = pdq.to_words([row[0] for row in chunk])
        dist = pdq.distances(words, corpus)
        for qi, si in zip(*(dist <= threshold).nonzero(), strict=False):
            _, release_id, shard_id, shard, key = chunk[si]
            hits.append(Hit(ref=queries[qi].ref, release_id=release_id, shard_id=shard_id, shard=shard,
                            key=key, distance=int(dist[qi, si])))


def _expand(direct: list[tuple[Query, dict]], samples, already: set) -> list[Hit]:
    """Samples sharing an exact image hash with a URL or key hit."""
    hits = []
    for kind in identifiers.HASH_KINDS:
        by_hash: dict[str, list[Query]] = {}
        for query, row in direct:
            if row[kind]:
                by_hash.setdefault(row[kind], []).append(query)
        for chunk in _chunks(list(by_hash)):
            for row in samples.filter(**{f"{kind}__in": chunk}).values(*_SAMPLE_FIELDS):
                for query in by_hash[row[kind]]:
                    mark = (query.ref, row["release_id"], row["key"])
                    if mark not in already:
                        already.add(mark)
                        hits.append(_hit(query.ref, row, expanded=True, via=kind))
    return hits


def hits_for(queries: list[Query], *, releases: Iterable[Release] | None = None,
             threshold: int | None = None, expand: bool = False) -> list[Hit]:
    """Every sample of `releases` (all when None) that each query hits.

    url, key, md5, sha1 and sha256 match exactly; pdq within `threshold`
    (settings.PDQ_MATCH_THRESHOLD by default) of hashes of reliable quality.
    With `expand`, URL and key hits also reach every sample with the same image
    hash, marked expanded. Each (query, release, key) is reported once.
    """
    threshold = settings.PDQ_MATCH_THRESHOLD if threshold is None else threshold
    samples = Sample.objects.all()
    if releases is not None:
        samples = samples.filter(release__in=list(releases))
    by_kind: dict[str, list[Query]] = {kind: [] for kind in identifiers.KINDS}
    for query in queries:
        by_kind[query.kind].append(query)

    url_hits, url_direct = _exact(
        by_kind[identifiers.URL], samples, "url_fp",
        lookup_value=lambda q: identifiers.url_fingerprint(q.value),
        verify=lambda q, row: identifiers.normalise_url(row["url"]) == q.value,
    )
    key_hits, key_direct = _exact(by_kind[identifiers.KEY], samples, "key")
    hits = url_hits + key_hits
    for kind in identifiers.HASH_KINDS:
        hits += _exact(by_kind[kind], samples, kind)[0]
    hits += _pdq(by_kind[identifiers.PDQ], samples, threshold)

    unique: dict[tuple, Hit] = {}
    for hit in hits:
        mark = (hit.ref, hit.release_id, hit.key)
        if mark not in unique or hit.distance < unique[mark].distance:
            unique[mark] = hit
    result = list(unique.values())
    if expand:
        result += _expand(url_direct + key_direct, samples, set(unique))
    return result


@dataclass
class ShardGroup:
    shard: str
    matches: list


@dataclass
class ReleaseGroup:
    release: Release
    total: int
    shards: list[ShardGroup]


def request_matches_grouped(*, request, limit: int = 1000) -> tuple[list[ReleaseGroup], int]:
    """A request's matches by release and shard (at most `limit` listed), and the total count."""
    from apps.matching.models import Match

    matches = Match.objects.filter(request=request).select_related("release__dataset", "shard", "identifier")
    total = matches.count()
    groups: dict[int, ReleaseGroup] = {}
    for match in matches.order_by("release_id", "shard__name", "key")[:limit]:
        group = groups.get(match.release_id)
        if group is None:
            group = groups[match.release_id] = ReleaseGroup(match.release, 0, [])
        if not group.shards or group.shards[-1].shard != match.shard.name:
            group.shards.append(ShardGroup(match.shard.name, []))
        group.shards[-1].matches.append(match)
    per_release = dict(
        matches.order_by().values_list("release_id").annotate(n=models.Count("id"))
    )
    for release_id, group in groups.items():
        group.total = per_release.get(release_id, 0)
    return list(groups.values()), total
