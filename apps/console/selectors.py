"""Lookup: is this URL, hash, sample key, tracking id or domain covered, and where does it stand?

Reads what every stage knows (requests, matching, blocklists, mirrors) and writes nothing: samples are found
by matching the value against each ready release's index (apps.matching.selectors.hits_for), as a request's
identifiers would be.
"""
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import F, Q, TextField, Value

from apps.blocklists.models import BlocklistVersion
from apps.blocklists.selectors import blocklist_shard_keys
from apps.core import identifiers, roles, validation
from apps.core.categories import RESTRICTED_CATEGORIES
from apps.core.errors import TakedownError
from apps.datasets.models import Release
from apps.matching.models import Match
from apps.matching.selectors import Query, allow_list_marks, hits_for, near_radius
from apps.mirrors.models import Acknowledgement, Mirror
from apps.removals.models import Identifier, RemovalRequest

TRACKING_ID = "tracking_id"
MAX_LOOKUP_LENGTH = 2000
# Samples listed per lookup (a domain can hit millions): the page says when there are more.
MAX_SAMPLES = 200
# Nearest PDQ neighbours listed, searched up to twice the match threshold so near misses show too.
MAX_NEAREST = 20
# Blocklist versions read back, newest first, to find the latest that lists a sample.
MAX_VERSIONS_READ = 20

_TRACKING = re.compile(r"^TD-[A-Z0-9]{10}$", re.IGNORECASE)
_HEX = re.compile(r"^[0-9a-f]+$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_BY_LENGTH = {32: [identifiers.MD5], 40: [identifiers.SHA1], 64: [identifiers.SHA256, identifiers.PDQ]}
_LABELS = {TRACKING_ID: "tracking id", **dict(identifiers.KIND_CHOICES)}


@dataclass(frozen=True)
class Candidate:
    """One reading of what was typed: a kind and its canonical value."""

    kind: str
    value: str

    @property
    def label(self) -> str:
        return _LABELS.get(self.kind, self.kind)


def lookup_parse(q: str) -> list[Candidate]:
    """The readings of a typed value, most likely first; TakedownError saying why when there is none.

    "kind:value" (sha256:..., key:...) names the kind; otherwise it is guessed: TD-XXXXXXXXXX is a tracking id,
    http(s)://... a URL, 32/40/64 hex digits an MD5/SHA-1/SHA-256 (64 could be a PDQ hash too: both are
    tried), digits a sample key, a dotted host name a domain, anything else a sample key if it can be one.
    """
    q = q.strip()
    if not q:
        raise TakedownError("Type a URL, hash, sample key, tracking id or domain to look it up.")
    if len(q) > MAX_LOOKUP_LENGTH:
        raise TakedownError(f"That is {len(q):,} characters long: a lookup takes at most {MAX_LOOKUP_LENGTH:,}.")
    problem = validation.text_problem(q)
    if problem:
        raise TakedownError(f"The value {problem}: type it again without it.")
    if _TRACKING.match(q):
        return [Candidate(TRACKING_ID, q.upper())]
    prefix, colon, rest = q.partition(":")
    if colon and not _SCHEME.match(q):
        try:
            kind = identifiers.parse_kind(prefix)
        except identifiers.InvalidIdentifier:
            pass  # a key may hold a colon: guess below
        else:
            return [Candidate(kind, _normalised(kind, rest))]
    if _SCHEME.match(q):
        return [Candidate(identifiers.URL, _normalised(identifiers.URL, q))]
    found = []
    if q.isdigit():
        found.append(Candidate(identifiers.KEY, q))
    bare = q.lower().removeprefix("0x")
    if _HEX.match(bare) and len(bare) in _BY_LENGTH:
        found += [Candidate(kind, bare) for kind in _BY_LENGTH[len(bare)]]
    if found:
        return found
    if "." in q and "/" not in q:
        try:
            found.append(Candidate(identifiers.DOMAIN, identifiers.normalise(identifiers.DOMAIN, q)))
        except identifiers.InvalidIdentifier:
            pass
    try:
        found.append(Candidate(identifiers.KEY, identifiers.normalise(identifiers.KEY, q)))
    except identifiers.InvalidIdentifier:
        pass
    if not found:
        raise TakedownError(
            f"{q[:80]!r} is not a URL (http:// or https://), a hash (32, 40 or 64 hex digits), a sample key, a "
            "tracking id (TD-XXXXXXXXXX) or a domain. To name the kind, type it first: sha256:..., key:..., pdq:...")
    return found


def _normalised(kind: str, value: str) -> str:
    try:
        return identifiers.normalise(kind, value)
    except identifiers.InvalidIdentifier as exc:
        raise TakedownError(f"Not a valid {_LABELS.get(kind, kind)}: {exc}") from None


@dataclass
class MirrorState:
    mirror: Mirror
    applied: bool


@dataclass
class SampleRow:
    """A sample the value hits, and whether it is blocked."""

    release: Release
    shard: str
    key: str
    kind: str
    distance: int = 0
    beyond_threshold: bool = False
    latest: BlocklistVersion | None = None  # the release's newest version
    listed_in: BlocklistVersion | None = None  # the newest version that lists the sample
    mirrors: list[MirrorState] = field(default_factory=list)
    requests: list[RemovalRequest] = field(default_factory=list)  # visible requests that matched it
    problem: str = ""  # why its blocked state is not known
    allowed: object = None  # the allow-list entry that leaves it out of matching (a known false positive)

    @property
    def blocked(self) -> bool:
        return self.listed_in is not None and self.listed_in == self.latest

    @property
    def kind_label(self) -> str:
        return _LABELS.get(self.kind, self.kind)


@dataclass
class RequestRow:
    request: RemovalRequest
    masked: bool  # a csam/ncii request shown to staff without the restricted role: only id, category, status
    how: str = ""


@dataclass
class Lookup:
    q: str
    error: str = ""
    candidates: list[Candidate] = field(default_factory=list)
    tracked: RequestRow | None = None
    tracked_missing: bool = False
    requests: list[RequestRow] = field(default_factory=list)
    samples: list[SampleRow] = field(default_factory=list)
    more_samples: bool = False
    nearest: list[SampleRow] = field(default_factory=list)
    nearest_radius: int = 0
    threshold: int = 0
    restricted_hidden: bool = False  # the user does not see what csam/ncii requests name
    not_ready: list[Release] = field(default_factory=list)


def lookup(*, q: str, user) -> Lookup:
    """What the host knows of a typed value, for a staff member (see lookup_parse for what may be typed).

    A csam or ncii request is listed to staff without the restricted role only when they look up its tracking
    id, and then by tracking id, category and status alone. Looking up something such a request names (or a
    sample it matched) never lists it to them: that would tell them what it names. The samples and their
    blocked state are shown to everyone: a blocklist carries keys only and is public.
    """
    result = Lookup(q=q, threshold=settings.PDQ_MATCH_THRESHOLD,
                    restricted_hidden=not roles.has_role(user, roles.RESTRICTED))
    try:
        result.candidates = lookup_parse(q)
    except TakedownError as exc:
        result.error = exc.message
        return result
    visible = _visible_requests(user)
    if result.candidates[0].kind == TRACKING_ID:
        request = RemovalRequest.objects.filter(tracking_id=result.candidates[0].value).first()
        if request is None:
            result.tracked_missing = True
        else:
            result.tracked = RequestRow(request, masked=not roles.may_see(user, request.category))
        return result
    result.requests = _naming(result.candidates, visible)
    searched = [c for c in result.candidates if c.kind != identifiers.PDQ]
    # Allow-listed samples are listed too, marked: a known false positive is not the same as no sample at all.
    queries = [Query(i, c.kind, c.value) for i, c in enumerate(searched)]
    hits = hits_for(queries, keep_allowed=True)
    marks = allow_list_marks(hits=hits, queries=queries)
    hits.sort(key=lambda h: (h.release_id, h.shard, h.key))
    result.more_samples = len(hits) > MAX_SAMPLES
    releases = {r.pk: r for r in Release.objects.filter(status=Release.Status.READY).select_related("dataset")}
    result.samples = [SampleRow(releases[h.release_id], h.shard, h.key, searched[h.ref].kind,
                                allowed=marks.get(h)) for h in hits[:MAX_SAMPLES]]
    pdq = [c for c in result.candidates if c.kind == identifiers.PDQ]
    if pdq:
        result.nearest_radius = near_radius(result.threshold)
        queries = [Query(0, identifiers.PDQ, pdq[0].value)]
        near = hits_for(queries, threshold=result.nearest_radius, keep_allowed=True)
        marks = allow_list_marks(hits=near, queries=queries)
        near.sort(key=lambda h: (h.distance, h.release_id, h.key))
        result.nearest = [SampleRow(releases[h.release_id], h.shard, h.key, identifiers.PDQ, distance=h.distance,
                                    beyond_threshold=h.distance > result.threshold, allowed=marks.get(h))
                          for h in near[:MAX_NEAREST]]
    rows = result.samples + result.nearest
    _blocked_state(rows)
    _matched_by(rows, visible)
    result.not_ready = list(Release.objects.exclude(status=Release.Status.READY).select_related("dataset")
                            .order_by("dataset__name", "name"))
    return result


def _visible_requests(user):
    requests = RemovalRequest.objects.all()
    if not roles.has_role(user, roles.RESTRICTED):
        requests = requests.exclude(category__in=RESTRICTED_CATEGORIES)
    return requests


def _naming(candidates: list[Candidate], visible) -> list[RequestRow]:
    """Requests (of those the user may see) with an identifier that names a candidate, or covers it: a domain
    or URL prefix for a URL, a parent domain for a domain."""
    how: dict[int, str] = {}
    for candidate in candidates:
        kind, value = candidate.kind, candidate.value
        found = [(Identifier.objects.filter(kind=kind, value=value), f"names this {candidate.label}")]
        if kind == identifiers.URL:
            host = urlsplit(value).hostname or ""
            found.append((Identifier.objects.filter(kind=identifiers.DOMAIN, value__in=identifiers.host_suffixes(host)),
                          "names its domain"))
            found.append((Identifier.objects.annotate(target=Value(value, output_field=TextField())).filter(
                kind=identifiers.URL_PREFIX, target__startswith=F("value")), "names a prefix of it"))
        if kind == identifiers.DOMAIN:
            parents = [p for p in identifiers.host_suffixes(value) if p != value]
            found.append((Identifier.objects.filter(kind=identifiers.DOMAIN, value__in=parents),
                          "names a parent domain"))
        for identifiers_found, reason in found:
            for request_id in identifiers_found.filter(request__in=visible).values_list("request_id", flat=True):
                how.setdefault(request_id, reason)
    requests = visible.filter(pk__in=how).order_by("-received_at", "-pk")
    return [RequestRow(r, masked=False, how=how[r.pk]) for r in requests]


def _blocked_state(rows: list[SampleRow]) -> None:
    """Each sample's newest version listing it, and which active mirrors of its dataset applied that one (or a
    later one)."""
    files: dict[tuple[int, str], set[str]] = {}
    versions: dict[int, list[BlocklistVersion]] = {}
    for row in rows:
        release = row.release
        if release.pk not in versions:
            versions[release.pk] = list(BlocklistVersion.objects.filter(release=release).select_related(
                "release__dataset").order_by("-version")[:MAX_VERSIONS_READ])
        row.latest = versions[release.pk][0] if versions[release.pk] else None
        for version in versions[release.pk]:
            mark = (version.pk, row.shard)
            if mark not in files:
                try:
                    files[mark] = blocklist_shard_keys(version=version, shard=row.shard)
                except TakedownError as exc:  # a missing or altered file: say so rather than fail the page
                    row.problem = f"could not read {version}: {exc.message}"
                    break
            if row.key in files[mark]:
                row.listed_in = version
                break
        if row.listed_in is None:
            continue
        applied = set(Acknowledgement.objects.filter(
            status=Acknowledgement.Status.APPLIED, blocklist__release=release,
            blocklist__version__gte=row.listed_in.version).values_list("mirror_id", flat=True))
        mirrors = Mirror.objects.filter(active=True, subscriptions__dataset_id=release.dataset_id).order_by("name")
        row.mirrors = [MirrorState(m, m.pk in applied) for m in mirrors]


def _matched_by(rows: list[SampleRow], visible) -> None:
    """The requests (of those the user may see) that matched each sample."""
    if not rows:
        return
    where = Q()
    for row in rows:
        where |= Q(release_id=row.release.pk, key=row.key)
    found: dict[tuple[int, str], list[int]] = {}
    for release_id, key, request_id in (Match.objects.filter(where, request__in=visible)
                                        .values_list("release_id", "key", "request_id").distinct()):
        found.setdefault((release_id, key), []).append(request_id)
    requests = visible.in_bulk({pk for ids in found.values() for pk in ids})
    for row in rows:
        row.requests = sorted((requests[pk] for pk in found.get((row.release.pk, row.key), [])),
                              key=lambda r: r.tracking_id)
