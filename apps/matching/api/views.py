"""The staff match preview API: what a list of identifiers would hit, without creating a request."""
from dataclasses import dataclass

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authentication import BasicAuthentication, SessionAuthentication
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from apps.core import roles
from apps.core.api.bodies import (
    MAX_BODY_BYTES,
    CSVParser,
    JSONBodyParser,
    identifiers_from_csv,
    identifiers_from_json,
    media_type_of,
)
from apps.core.api.exceptions import error_lines
from apps.core.api.permissions import role_required
from apps.core.api.serializers import ErrorSerializer
from apps.core.errors import TakedownError
from apps.datasets.models import Release
from apps.datasets.selectors import ReleaseProgress, dataset_get, release_get, releases_not_ready
from apps.matching.api import serializers as s
from apps.matching.selectors import Query, allow_listed, hits_for, release_not_ready_message

_ERRORS = {
    400: OpenApiResponse(ErrorSerializer,
                         description="Invalid input, an unknown dataset or release, or too many identifiers; "
                                     "nothing was matched. `errors` names each bad identifier."),
    401: OpenApiResponse(ErrorSerializer, description="Not logged in (session or HTTP Basic)."),
    403: OpenApiResponse(ErrorSerializer, description="The user holds no staff role."),
    409: OpenApiResponse(ErrorSerializer,
                         description="The release named is not ready (still indexing, or failed): its index "
                                     "would miss samples, so nothing was matched. `detail` names the release and "
                                     "how far it got; ask again once it is ready."),
    413: OpenApiResponse(ErrorSerializer, description=f"The body is larger than {MAX_BODY_BYTES // 2**20} MiB."),
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


class ReleaseNotReady(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "release_not_ready"


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
    # Every staff role may preview (a staff flag without a role may not).
    permission_classes = [role_required(roles.INTAKE)]
    parser_classes = [JSONBodyParser, CSVParser]

    @extend_schema(
        summary="Preview which samples identifiers would hit",
        description=(
            "Matches identifiers against the ready releases' indexes, as `manage.py match` does, and "
            "creates nothing. A release named that is not ready yet is refused (409); without one, the "
            "releases not ready are listed in `releases_pending`, and `unmatched` says nothing about them. "
            "Send either a JSON object (`identifiers` plus the options) or a text/csv body with a "
            "`kind,value` header and the options as query parameters (only then). Every "
            f"identifier is validated first; any bad one fails the request. At most {s.MAX_IDENTIFIERS:,} "
            f"identifiers and {MAX_BODY_BYTES // 2**20} MiB per request."
        ),
        request={"application/json": s.PreviewInputSerializer, "text/csv": OpenApiTypes.STR},
        parameters=_PARAMETERS,
        responses={200: s.PreviewSerializer, **_ERRORS},
    )
    def post(self, request):
        items, options = _read(request)
        releases, pending = _releases(dataset=options.get("dataset"), release=options.get("release"))
        body = _preview(items, releases=releases, threshold=options.get("threshold"), expand=options["expand"])
        body["releases_pending"] = [{"dataset": p.release.dataset.name, "release": p.release.name,
                                     "status": p.release.status, "state": str(p)} for p in pending]
        return Response(body)


def _read(request) -> tuple[list[_Item], dict]:
    """The identifiers and options of a JSON or CSV request, all validated."""
    content_type = media_type_of(request)
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
        raise TakedownError("invalid options, nothing was matched", details=error_lines(options.errors))
    return options.validated_data


def _read_json(raw) -> list[_Item]:
    parsed = identifiers_from_json(raw, limit=s.MAX_IDENTIFIERS, outcome="nothing was matched", dedupe=False)
    return [_Item(index, p.kind, p.value) for index, p in enumerate(parsed)]


def _read_csv(data: bytes | str) -> list[_Item]:
    parsed = identifiers_from_csv(data, limit=s.MAX_IDENTIFIERS)
    return [_Item(index, p.kind, p.value, p.line) for index, p in enumerate(parsed)]


def _releases(*, dataset: str | None, release: str | None) -> tuple[list[Release], list[ReleaseProgress]]:
    """The ready releases to search, and those (of the dataset, if named) not ready to be searched yet.

    A named release must exist and be ready: searching a release still
    indexing would report identifiers in it as hitting nothing.
    """
    if release:
        found = release_get(dataset=dataset, release=release)
        problem = release_not_ready_message(release=found)
        if problem:
            raise ReleaseNotReady(problem)
        return [found], []
    ready = Release.objects.filter(status=Release.Status.READY).select_related("dataset")
    chosen = dataset_get(name=dataset) if dataset else None
    if chosen is not None:
        ready = ready.filter(dataset=chosen)
    return list(ready.order_by("dataset__name", "name")), releases_not_ready(dataset=chosen)


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
