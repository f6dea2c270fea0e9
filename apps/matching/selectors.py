"""Finding the samples a list of identifiers hits, in any set of releases, through their indexes."""
import functools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np
from django.conf import settings
from django.db import models

from apps.core import identifiers
from apps.core.wording import counted
from apps.datasets.models import Release, Shard
from apps.datasets.selectors import release_progress, releases_not_ready, releases_progress
from apps.events.models import HandlerRun
from apps.index import fingerprints
from apps.index.index import DIGEST_SOURCES, Segment, open_index
from apps.removals.models import BLOCKING_STATUSES, OPEN_STATUSES


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


# Row columns a hit needs: to report it, to verify it, and to follow its content elsewhere.
_ROW_COLUMNS = ["key", "url", "md5", "sha1", "sha256", "img_md5", "img_sha256", "pdq_quality"]
# Kinds whose hits name one sample by where it is, not by what it is: they reach the
# same content elsewhere only through the sample's URL and digests.
_POSITIONAL = (identifiers.KEY,)
_BY_ADDRESS = (identifiers.URL, identifiers.KEY, identifiers.DOMAIN, identifiers.URL_PREFIX)


@dataclass
class _Candidate:
    query: int
    row: int
    distance: int


@dataclass
class _Found:
    """A verified hit with the sample's values, while matching runs."""

    hit: Hit
    kind: str
    values: dict = field(repr=False)


@functools.lru_cache(maxsize=256)
def _shards(release_id: int, indexed_at) -> dict[str, int]:
    """Shard ids by name; a ready release's shards never change, so this is cached."""
    return dict(Shard.objects.filter(release_id=release_id).values_list("name", "id"))


class _Matcher:
    def __init__(self, releases: list[Release], threshold: int):
        self.releases = releases
        self.threshold = threshold
        self.indexes = {r.pk: open_index(r.index_path) for r in releases}
        self.shard_ids = {r.pk: _shards(r.pk, r.indexed_at) for r in releases}

    def run(self, queries: list[Query], releases: list[Release]) -> list[_Found]:
        """Verified hits of `queries` in `releases`, segment by segment."""
        found: list[_Found] = []
        by_kind: dict[str, list[int]] = defaultdict(list)
        for position, query in enumerate(queries):
            by_kind[query.kind].append(position)
        for release in releases:
            for part in self.indexes[release.pk].segments:
                candidates = self._candidates(part, queries, by_kind)
                found += self._verify(release, part, queries, candidates)
        return found

    def _candidates(self, segment: Segment, queries: list[Query], by_kind) -> list[_Candidate]:
        out: list[_Candidate] = []

        def add(kind_positions: list[int], result) -> None:
            for q, row, distance in zip(result.query.tolist(), result.row.tolist(), result.distance.tolist()):
                out.append(_Candidate(kind_positions[q], row, distance))

        for kind in (identifiers.URL, identifiers.KEY):
            positions = by_kind.get(kind, [])
            if positions:
                add(positions, segment.exact(kind, fingerprints.strings([queries[p].value for p in positions])))
        for kind in identifiers.HASH_KINDS:
            positions = by_kind.get(kind, [])
            if positions:
                digests = [bytes.fromhex(queries[p].value) for p in positions]
                add(positions, segment.exact(kind, fingerprints.digests(digests)))
        positions = by_kind.get(identifiers.URL_PREFIX, [])
        if positions:
            hosts = [urlsplit(queries[p].value).hostname or "" for p in positions]
            add(positions, segment.exact("host", fingerprints.strings(hosts)))
        positions = by_kind.get(identifiers.DOMAIN, [])
        if positions:
            owner, host_fps = segment.domain_hosts([queries[p].value for p in positions])
            found = segment.exact("host", host_fps)
            add([positions[int(o)] for o in owner], found)
        positions = by_kind.get(identifiers.PDQ, [])
        if positions:
            codes = np.frombuffer(b"".join(bytes.fromhex(queries[p].value) for p in positions), np.uint8)
            add(positions, segment.pdq(codes.reshape(-1, 32), self.threshold))
        return out

    def _verify(self, release: Release, segment: Segment, queries: list[Query],
                candidates: list[_Candidate]) -> list[_Found]:
        if not candidates:
            return []
        rows = segment.rows(np.asarray([c.row for c in candidates]), _ROW_COLUMNS)
        found = []
        for i, candidate in enumerate(candidates):
            values = {name: rows[name][i] for name in (*_ROW_COLUMNS, "shard")}
            query = queries[candidate.query]
            if not _same(query, values):
                continue  # a fingerprint collision, or a host that only shares a suffix
            found.append(_Found(Hit(
                ref=query.ref, release_id=release.pk, shard_id=self.shard_ids[release.pk][values["shard"]],
                shard=values["shard"], key=values["key"], distance=candidate.distance,
            ), query.kind, values))
        return found


def _same(query: Query, values: dict) -> bool:
    """Whether a candidate row really carries the identifier (fingerprints can collide)."""
    kind, value = query.kind, query.value
    if kind == identifiers.URL:
        return values["url"] == value
    if kind == identifiers.KEY:
        return values["key"] == value
    if kind in DIGEST_SOURCES:
        digest = bytes.fromhex(value)
        return any(values[column] == digest for column in DIGEST_SOURCES[kind])
    if kind == identifiers.DOMAIN:
        host = urlsplit(values["url"]).hostname or ""
        return value in identifiers.host_suffixes(host)
    if kind == identifiers.URL_PREFIX:
        return values["url"].startswith(value)
    # pdq: the index computed the exact distance; hashes below the quality floor do not count.
    quality = values["pdq_quality"]
    return quality is None or quality >= settings.PDQ_MIN_QUALITY


def _content_queries(found: list[_Found], *, with_url: bool) -> list[tuple[Query, _Found]]:
    """Queries for the same content as each found sample: its digests (and URL)."""
    out = []
    for item in found:
        for kind, columns in DIGEST_SOURCES.items():
            for column in columns:
                if item.values[column]:
                    out.append((Query(item.hit.ref, kind, item.values[column].hex()), item))
        if with_url and item.values["url"]:
            out.append((Query(item.hit.ref, identifiers.URL, item.values["url"]), item))
    return out


def _family(release: Release, by_id: dict[int, Release]) -> set[int]:
    """Releases connected to `release` through derived_from, either way (itself excluded)."""
    parents = {r.pk: r.derived_from_id for r in by_id.values()}
    children = defaultdict(set)
    for child, parent in parents.items():
        if parent:
            children[parent].add(child)
    seen, todo = {release.pk}, [release.pk]
    while todo:
        current = todo.pop()
        for neighbour in (parents.get(current), *children[current]):
            if neighbour and neighbour not in seen:
                seen.add(neighbour)
                todo.append(neighbour)
    return seen - {release.pk}


_CHUNK = 500  # values per IN (...): well under SQLite's limit on query parameters


def allow_listed(queries: list[Query]) -> list[Query]:
    """The queries whose identifier is on the allow-list (known false positives)."""
    from apps.matching.models import AllowListEntry

    by_kind: dict[str, list[str]] = defaultdict(list)
    for query in queries:
        by_kind[query.kind].append(query.value)
    listed: set[tuple[str, str]] = set()
    entries = AllowListEntry.objects.filter(scope=AllowListEntry.Scope.IDENTIFIER, revoked_at=None)
    for kind, values in by_kind.items():
        values = sorted(set(values))
        for start in range(0, len(values), _CHUNK):
            chunk = values[start:start + _CHUNK]
            listed |= set(entries.filter(kind=kind, value__in=chunk).values_list("kind", "value"))
    return [q for q in queries if (q.kind, q.value) in listed]


def _allowed_samples(hits: list[Hit]) -> dict[tuple[int, str], object]:
    """The active sample entries of the allow-list that cover some of `hits`, by (release id, key)."""
    from apps.matching.models import AllowListEntry

    if not hits:
        return {}
    entries = AllowListEntry.objects.filter(
        scope=AllowListEntry.Scope.SAMPLE, revoked_at=None, release_id__in={h.release_id for h in hits})
    wanted = {(h.release_id, h.key) for h in hits}
    return {(e.release_id, e.key): e for e in entries if (e.release_id, e.key) in wanted}


def _without_allowed_samples(hits: list[Hit]) -> list[Hit]:
    allowed = _allowed_samples(hits)
    return [h for h in hits if (h.release_id, h.key) not in allowed] if allowed else hits


def _identifier_entries(queries: list[Query]) -> dict[tuple[str, str], object]:
    """The active allow-list entries naming some of the queries' identifiers, by (kind, value)."""
    from apps.matching.models import AllowListEntry

    named = {(q.kind, q.value) for q in allow_listed(queries)}
    if not named:
        return {}
    entries = AllowListEntry.objects.filter(scope=AllowListEntry.Scope.IDENTIFIER, revoked_at=None,
                                            value__in={value for _, value in named})
    return {(e.kind, e.value): e for e in entries if (e.kind, e.value) in named}


def allow_list_marks(*, hits: list[Hit], queries: list[Query]) -> dict[Hit, object]:
    """The allow-list entry that leaves each of `hits` out of matching, if any: its sample's, else its
    identifier's (`queries` are those the hits answer, by ref). For hits found with keep_allowed."""
    by_ref = {q.ref: q for q in queries}
    samples = _allowed_samples(hits)
    identifiers_listed = _identifier_entries(queries)
    marks = {}
    for hit in hits:
        query = by_ref.get(hit.ref)
        entry = samples.get((hit.release_id, hit.key)) or (
            identifiers_listed.get((query.kind, query.value)) if query is not None else None)
        if entry is not None:
            marks[hit] = entry
    return marks


def hits_for(queries: list[Query], *, releases: Iterable[Release] | None = None,
             threshold: int | None = None, expand: bool = False, key_roots: set[int] | None = None,
             keep_allowed: bool = False) -> list[Hit]:
    """Every sample of `releases` (all ready ones when None) that each query hits.

    url, key, md5, sha1 and sha256 match exactly (digests of the original
    download or of the image in the tar); domain hits every URL on that host and
    its subdomains, url_prefix every URL that starts with it; pdq within
    `threshold` (settings.PDQ_MATCH_THRESHOLD by default). Sample keys are
    positional: a key hits the releases that were not derived from another
    (or those of `key_roots`, the ids of the releases the keys were given for),
    and reaches derived releases (and their parents) through the sample's URL
    and digests. With `expand`, URL, key and domain hits also reach every
    sample with the same image digest, in any release. Each (query, release,
    key) is reported once, direct before expanded. Allow-listed identifiers and
    samples (known false positives) are left out, unless `keep_allowed` (to say
    which are allow-listed rather than unmatched: allow_list_marks).
    """
    threshold = settings.PDQ_MATCH_THRESHOLD if threshold is None else threshold
    if not keep_allowed:
        listed = {(q.kind, q.value) for q in allow_listed(queries)}
        queries = [q for q in queries if (q.kind, q.value) not in listed]
    everything = {r.pk: r for r in Release.objects.filter(status=Release.Status.READY).select_related("dataset")}
    chosen = list(everything.values()) if releases is None else [
        everything[r.pk] for r in releases if r.pk in everything]
    if not chosen or not queries:
        return []
    matcher = _Matcher(list(everything.values()), threshold)
    roots = [r for r in chosen if (r.derived_from_id is None if key_roots is None else r.pk in key_roots)]
    positional = [q for q in queries if q.kind in _POSITIONAL]
    others = [q for q in queries if q.kind not in _POSITIONAL]
    found = matcher.run(others, chosen) + matcher.run(positional, roots)

    wanted = {r.pk for r in chosen}
    extra: list[_Found] = []
    # A key names one sample of one release: its copies in related releases are found by content.
    for item in [f for f in found if f.kind in _POSITIONAL]:
        family = [everything[pk] for pk in _family(everything[item.hit.release_id], everything) if pk in wanted]
        if family:
            extra += _follow(matcher, [item], family, with_url=True)
    if expand:
        direct = [f for f in found if f.kind in _BY_ADDRESS]
        extra += _follow(matcher, direct, chosen, with_url=False)

    best: dict[tuple, Hit] = {}
    for hit in [f.hit for f in found] + [f.hit for f in extra]:
        mark = (hit.ref, hit.release_id, hit.key)
        current = best.get(mark)
        if current is None or (current.expanded, current.distance) > (hit.expanded, hit.distance):
            best[mark] = hit
    return list(best.values()) if keep_allowed else _without_allowed_samples(list(best.values()))


def near_radius(threshold: int) -> int:
    """How far near misses of a PDQ identifier are looked for: twice its threshold, at least 32. Unrelated
    images sit about 128 bits apart, so a farther sample says nothing about a missed match, and a bounded
    multi-index search stays cheap where an unbounded nearest neighbour would scan every hash."""
    return min(max(2 * threshold, 32), 256)


@dataclass
class Unmatched:
    """Why an identifier hits no sample: the allow-list, or (PDQ) how far the nearest sample is."""

    pdq: bool
    threshold: int
    radius: int
    entry: object = None  # the allow-list entry naming the identifier itself
    allowed: int = 0  # samples it hits that are allow-listed
    hits_now: int = 0  # samples it hits now and are not allow-listed: it was matched before they were there
    nearest: int | None = None  # PDQ: distance to the nearest sample within `radius`

    def __str__(self) -> str:
        if self.allowed or self.entry is not None:
            parts = [f"allow-listed ({counted(self.allowed, 'sample')})"]
            if self.entry is not None:
                parts.append("the identifier itself is on the allow-list")
            return "; ".join(parts)
        if self.hits_now:
            return f"hits {counted(self.hits_now, 'sample')} now: match it again"
        if not self.pdq:
            return ""
        if self.nearest is None:
            return f"no sample within distance {self.radius}; threshold {self.threshold}"
        return f"nearest sample at distance {self.nearest}; threshold {self.threshold}"


def unmatched_explain(queries: list[Query], *, releases: Iterable[Release] | None = None,
                      threshold: int | None = None, expand: bool = False,
                      key_roots: set[int] | None = None) -> dict[object, Unmatched]:
    """Why each of `queries` (identifiers that matched nothing) hits no sample, by ref: the allow-listed
    samples it does hit (or the entry naming it), and for a PDQ hash the nearest sample's distance (searched
    up to near_radius) against the threshold. Same arguments as hits_for."""
    threshold = settings.PDQ_MATCH_THRESHOLD if threshold is None else threshold
    radius = near_radius(threshold)
    if not queries:
        return {}
    hits = hits_for(queries, releases=releases, threshold=radius, expand=expand, key_roots=key_roots,
                    keep_allowed=True)
    marks = allow_list_marks(hits=hits, queries=queries)
    entries = _identifier_entries(queries)
    out = {q.ref: Unmatched(pdq=q.kind == identifiers.PDQ, threshold=threshold, radius=radius,
                            entry=entries.get((q.kind, q.value))) for q in queries}
    for hit in hits:
        found = out[hit.ref]
        if hit.distance <= threshold:
            if hit in marks:
                found.allowed += 1
            else:
                found.hits_now += 1
        if found.pdq and (found.nearest is None or hit.distance < found.nearest):
            found.nearest = hit.distance
    return out


def request_scope_releases(*, request, releases: Iterable[Release] | None = None) -> list[Release] | None:
    """The releases a request is matched against: `releases` (None: every ready one) within its scope.

    None when the request applies to every dataset and no releases were named.
    """
    if request.dataset_id is None:
        return None if releases is None else list(releases)
    scope = Release.objects.filter(pk=request.release_id) if request.release_id else Release.objects.filter(
        dataset_id=request.dataset_id)
    if releases is not None:
        scope = scope.filter(pk__in=[r.pk for r in releases])
    return list(scope.select_related("dataset").order_by("pk"))


def request_key_roots(*, request) -> set[int] | None:
    """The releases a scoped request's sample keys name: its release, or its dataset's releases not derived
    from another of them (None for a request without a scope: every release not derived from another)."""
    if request.dataset_id is None:
        return None
    if request.release_id:
        return {request.release_id}
    rows = Release.objects.filter(dataset_id=request.dataset_id).values_list("pk", "derived_from_id")
    own = {pk for pk, _ in rows}
    return {pk for pk, parent in rows if parent not in own}


def _follow(matcher: _Matcher, found: list[_Found], releases: list[Release], *, with_url: bool) -> list[_Found]:
    """Samples of `releases` with the same content as `found`, marked expanded and how."""
    pairs = _content_queries(found, with_url=with_url)
    if not pairs:
        return []
    queries = [Query(position, query.kind, query.value) for position, (query, _) in enumerate(pairs)]
    out = []
    for item in matcher.run(queries, releases):
        query, origin = pairs[item.hit.ref]
        if item.hit.release_id == origin.hit.release_id and item.hit.key == origin.hit.key:
            continue
        hit = item.hit
        out.append(_Found(Hit(ref=query.ref, release_id=hit.release_id, shard_id=hit.shard_id, shard=hit.shard,
                              key=hit.key, expanded=True, via=query.kind), origin.kind, item.values))
    return out


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
    per_release = dict(matches.order_by().values_list("release_id").annotate(n=models.Count("id")))
    for release_id, group in groups.items():
        group.total = per_release.get(release_id, 0)
    return list(groups.values()), total


# Requests matched against every release as it becomes ready: those under review (for the reviewers) and those
# approved (for the blocklists).
CAUGHT_UP_STATUSES = (*OPEN_STATUSES, *BLOCKING_STATUSES)
# The handler (apps.matching.handlers) that matches the open and approved requests against a newly ready release.
CATCH_UP_HANDLER = "matching.catch_up_release"


def release_not_ready_message(*, release: Release) -> str | None:
    """Why `release` cannot be matched yet, in words for the user; None when it is ready.

    Its index covers only the shards finalized into it, so matching it before
    then would report identifiers as hitting nothing that may well be there.
    """
    if release.status == Release.Status.READY:
        return None
    if release.status == Release.Status.FAILED:
        error = f" ({release.error})" if release.error else ""
        return (f"{release} failed to index{error}: it has no index to match against; import it again "
                "(manage.py import_release) and match once it is ready (Datasets > Releases)")
    progress = release_progress(release=release)
    return (f"{release} is still indexing ({progress.shards_indexed} of {release.shard_count} shards): matching it "
            "now would miss samples; wait for it to be ready (Datasets > Releases) or run again later")


@dataclass(frozen=True)
class PendingRelease:
    """A release a request has not been matched against yet, and where it stands."""

    release: Release
    state: str

    def __str__(self) -> str:
        return f"{self.release} ({self.state})"


def _catching_up() -> set[int]:
    """Ready releases whose catch-up (the open and approved requests matched against them) is not done."""
    runs = HandlerRun.objects.filter(handler=CATCH_UP_HANDLER).exclude(status=HandlerRun.Status.DONE)
    return {run.event.payload.get("release") for run in runs.select_related("event")}


def request_pending_releases(*, request) -> list[PendingRelease]:
    """The releases whose matches a request is still waiting for, by name; empty once it is matched everywhere.

    Those are the releases still indexing or failed (matched once they are
    ready), and ready ones it was not matched against yet: its own matching
    has not run since they became ready, or their catch-up has not reached it.
    A request that is no longer matched (rejected, reinstated) waits for none.
    Until this is empty, an identifier with no match may still hit a sample.
    """
    if request.status not in CAUGHT_UP_STATUSES:
        return []
    ready = Release.objects.filter(status=Release.Status.READY)
    if request.dataset_id is not None:
        ready = ready.filter(pk__in=[r.pk for r in request_scope_releases(request=request)])
    if request.matched_at is not None:
        later = ready.filter(indexed_at__gt=request.matched_at).values_list("pk", flat=True)
        ids = set(later) | (_catching_up() & set(ready.values_list("pk", flat=True)))
    else:
        ids = set(ready.values_list("pk", flat=True))
    pending = [PendingRelease(release=p.release, state="ready, being matched") for p in releases_progress(ids=ids)]
    pending += [PendingRelease(release=p.release, state=str(p)) for p in releases_not_ready()
                if request.dataset_id is None or (p.release.dataset_id == request.dataset_id
                                                  and request.release_id in (None, p.release.pk))]
    return sorted(pending, key=lambda p: (p.release.dataset.name, p.release.name))
