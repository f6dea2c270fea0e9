"""The staff match preview API: what a list of identifiers would hit, without creating a request."""
import csv
import io
from dataclasses import dataclass

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.authentication import BasicAuthentication, SessionAuthentication
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from apps.core import identifiers
from apps.core.api.serializers import ErrorSerializer
from apps.core.errors import TakedownError
from apps.datasets.models import Release
from apps.datasets.selectors import dataset_get, release_get
from apps.matching.api import serializers as s
from apps.matching.selectors import Query, allow_listed, hits_for
from apps.removals.parsing import MAX_REPORTED_ERRORS, parse_identifiers_csv

_ERRORS = {
    400: OpenApiResponse(ErrorSerializer,
                         description="Invalid input, an unknown dataset or release, or too many identifiers; "
                                     "nothing was matched. `errors` names each bad identifier."),
    401: OpenApiResponse(ErrorSerializer, description="Not logged in (session or HTTP Basic)."),
    403: OpenApiResponse(ErrorSerializer, description="The user is not staff."),
    415: OpenApiResponse(ErrorSerializer, description="The body is neither application/json nor text/csv."),
}
_OPTIONS = set(s.PreviewOptionsSerializer().fields)
_PARAMETERS = [
    OpenApiParameter(name, kind, OpenApiParameter.QUERY,
                     description=f"With a text/csv body only (a JSON body has it as a field). "
                                 f"{s.PreviewOptionsSerializer().fields[name].help_text}")
    for name, kind in (("dataset", str), ("release", str), ("threshold", int), ("expand", bool))
]
_FORMAT_PARAM = api_settings.URL_FORMAT_OVERRIDE  # the response format, allowed on any request


# 100,000 identifiers do not fit Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), which DRF's JSONParser
# enforces; this view's parsers read up to this limit instead.
MAX_BODY_BYTES = 64 * 1024 * 1024


def _read_body(stream, parser_context) -> bytes:
    request = (parser_context or {}).get("request")
    declared = str(request.META.get("CONTENT_LENGTH") or "0") if request is not None else "0"
    too_big = declared.isdigit() and int(declared) > MAX_BODY_BYTES
    data = stream.read(MAX_BODY_BYTES + 1) if stream is not None and not too_big else b""
    if too_big or len(data) > MAX_BODY_BYTES:
        raise TakedownError(f"the request body is larger than {MAX_BODY_BYTES // 2**20} MiB: "
                            "split the identifiers over several requests")
    return data


class JSONBodyParser(BaseParser):
    """application/json as DRF's JSONParser reads it, up to MAX_BODY_BYTES."""

    media_type = JSONParser.media_type

    def parse(self, stream, media_type=None, parser_context=None):
        return JSONParser().parse(io.BytesIO(_read_body(stream, parser_context)), media_type, parser_context)


class CSVParser(BaseParser):
    """text/csv, up to MAX_BODY_BYTES, handed on undecoded for apps.removals.parsing to decode and validate."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        data = _read_body(stream, parser_context)
        charset = _charset(media_type)
        if charset and charset.replace("_", "-") not in ("utf-8", "utf8"):
            try:
                return data.decode(charset)
            except (LookupError, UnicodeDecodeError) as exc:
                raise ParseError(f"CSV body is not {charset} text: {exc}") from None
        return data


def _charset(media_type: str | None) -> str:
    for param in (media_type or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return ""


@dataclass(frozen=True)
class _Item:
    """One identifier as read: its position in the request (and CSV line), kind and normalised value."""

    index: int
    kind: str
    value: str
    line: int | None = None


@extend_schema(tags=["matching"])
class MatchPreviewView(APIView):
    # Basic first: a script without credentials gets 401 and a WWW-Authenticate challenge.
    authentication_classes = [BasicAuthentication, SessionAuthentication]
    permission_classes = [IsAdminUser]
    parser_classes = [JSONBodyParser, CSVParser]

    @extend_schema(
        summary="Preview which samples identifiers would hit",
        description=(
            "Matches identifiers against the ready releases' indexes, as `manage.py match` does, and "
            "creates nothing. Send either a JSON object (`identifiers` plus the options) or a text/csv "
            "body with a `kind,value` header and the options as query parameters (only then). Every "
            f"identifier is validated first; any bad one fails the request. At most {s.MAX_IDENTIFIERS:,} "
            f"identifiers and {MAX_BODY_BYTES // 2**20} MiB per request."
        ),
        request={"application/json": s.PreviewInputSerializer, "text/csv": OpenApiTypes.STR},
        parameters=_PARAMETERS,
        responses={200: s.PreviewSerializer, **_ERRORS},
    )
    def post(self, request):
        items, options = _read(request)
        releases = _releases(dataset=options.get("dataset"), release=options.get("release"))
        return Response(_preview(items, releases=releases, threshold=options.get("threshold"),
                                 expand=options["expand"]))


def _read(request) -> tuple[list[_Item], dict]:
    """The identifiers and options of a JSON or CSV request, all validated."""
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    params = {name for name in request.query_params if name != _FORMAT_PARAM}
    if content_type == CSVParser.media_type:
        data = request.data if isinstance(request.data, bytes | str) else b""
        options = _options(request.query_params, names=params, where="query parameter")
        return _read_csv(data), options
    body = request.data
    if not isinstance(body, dict):
        raise TakedownError("the JSON body must be an object with an identifiers list")
    if params:
        raise TakedownError(f"query parameters {', '.join(sorted(params))} are only read with a text/csv body: "
                            "put the options in the JSON object")
    options = _options({k: v for k, v in body.items() if k != "identifiers"},
                       names=set(body) - {"identifiers"}, where="field")
    if "identifiers" not in body:
        raise TakedownError("identifiers: this field is required (a list of {kind, value} objects)")
    return _read_json(body["identifiers"]), options


def _options(data, *, names: set[str], where: str) -> dict:
    unknown = names - _OPTIONS
    if unknown:
        expected = sorted(_OPTIONS | ({"identifiers"} if where == "field" else set()))
        raise TakedownError(f"unknown {where}{'s' if len(unknown) > 1 else ''} {', '.join(sorted(unknown))} "
                            f"(expected: {', '.join(expected)})")
    options = s.PreviewOptionsSerializer(data=data)
    if not options.is_valid():
        raise TakedownError("invalid options, nothing was matched", details=[
            f"{name}: {message}" for name, messages in options.errors.items() for message in messages
        ])
    return options.validated_data


def _too_many(count: int) -> TakedownError:
    return TakedownError(f"too many identifiers: {count:,} (at most {s.MAX_IDENTIFIERS:,} per request; "
                         "split the list)")


def _read_json(raw) -> list[_Item]:
    if not isinstance(raw, list):
        raise TakedownError("identifiers: expected a list of {kind, value} objects")
    if len(raw) > s.MAX_IDENTIFIERS:
        raise _too_many(len(raw))
    if not raw:
        raise TakedownError("identifiers: the list is empty")
    items: list[_Item] = []
    errors: list[str] = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str) \
                or not isinstance(entry.get("value"), str):
            errors.append(f"index {index}: expected an object with string fields kind and value")
            continue
        try:
            kind = identifiers.parse_kind(entry["kind"])
            items.append(_Item(index, kind, identifiers.normalise(kind, entry["value"])))
        except identifiers.InvalidIdentifier as exc:
            errors.append(f"index {index}: {exc}")
    if errors:
        shown = errors[:MAX_REPORTED_ERRORS]
        if len(errors) > len(shown):
            shown.append(f"... and {len(errors) - len(shown)} more")
        raise TakedownError(
            f"identifiers: {len(errors)} bad identifier{'s' if len(errors) > 1 else ''}, nothing was matched",
            details=shown,
        )
    return items


def _read_csv(data: bytes | str) -> list[_Item]:
    # Refuse an oversized file before validating every line of it.
    newline = b"\n" if isinstance(data, bytes) else "\n"
    if data.count(newline) > s.MAX_IDENTIFIERS:
        rows = _csv_rows(data)
        if rows is not None and rows - 1 > s.MAX_IDENTIFIERS:
            raise _too_many(rows - 1)
    parsed = parse_identifiers_csv(data, source_name="CSV body")
    if len(parsed) > s.MAX_IDENTIFIERS:
        raise _too_many(len(parsed))
    return [_Item(index, p.kind, p.value, p.line) for index, p in enumerate(parsed)]


def _csv_rows(data: bytes | str) -> int | None:
    """Non-blank CSV rows, header included; None when the text cannot be decoded (the parser says why)."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return None
    return sum(1 for row in csv.reader(io.StringIO(data, newline="")) if any(cell.strip() for cell in row))


def _releases(*, dataset: str | None, release: str | None) -> list[Release]:
    """The ready releases to search; a named release must exist and be ready."""
    if release:
        found = release_get(dataset=dataset, release=release)
        if found.status != Release.Status.READY:
            raise TakedownError(f"release {found} is not ready to search (status: {found.status})")
        return [found]
    ready = Release.objects.filter(status=Release.Status.READY).select_related("dataset")
    if dataset:
        ready = ready.filter(dataset=dataset_get(name=dataset))
    return list(ready.order_by("dataset__name", "name"))


def _preview(items: list[_Item], *, releases: list[Release], threshold: int | None, expand: bool) -> dict:
    """The response body: every hit of every item, the items that hit nothing, and those allow-listed.

    Items with the same kind and value are searched once and reported at each index.
    """
    groups: dict[tuple[str, str], list[_Item]] = {}
    for item in items:
        groups.setdefault((item.kind, item.value), []).append(item)
    same = list(groups.values())
    queries = [Query(ref=ref, kind=group[0].kind, value=group[0].value) for ref, group in enumerate(same)]
    by_id = {r.pk: r for r in releases}
    hits = hits_for(queries, releases=releases, threshold=threshold, expand=expand) if releases else []
    matches = []
    for hit in hits:
        rel = by_id[hit.release_id]
        for item in same[hit.ref]:
            matches.append({
                "dataset": rel.dataset.name, "release": rel.name, "shard": hit.shard, "key": hit.key,
                "kind": item.kind, "value": item.value, "distance": hit.distance, "expanded": hit.expanded,
                "via": hit.via, "index": item.index, "line": item.line,
            })
    matches.sort(key=lambda m: (m["dataset"], m["release"], m["shard"], m["key"], m["index"]))
    hit_refs = {hit.ref for hit in hits}
    listed = {query.ref for query in allow_listed(queries)}

    def by_index(refs) -> list[dict]:
        found = sorted((item for ref in refs for item in same[ref]), key=lambda item: item.index)
        return [{"index": i.index, "kind": i.kind, "value": i.value, "line": i.line} for i in found]

    return {
        "identifiers": len(items),
        "matches": matches,
        "unmatched": by_index(ref for ref in range(len(same)) if ref not in hit_refs and ref not in listed),
        "allow_listed": by_index(sorted(listed)),
        "releases_searched": [{"dataset": r.dataset.name, "release": r.name} for r in releases],
    }
