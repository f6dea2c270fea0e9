"""The trusted-flagger API: bulk removal requests, idempotent on the flagger's own reference."""
from django.db.models import Count
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.settings import api_settings

from apps.core.api.bodies import (
    MAX_BODY_BYTES,
    CSVParser,
    JSONBodyParser,
    identifiers_from_csv,
    identifiers_from_json,
    media_type_of,
)
from apps.core.api.exceptions import error_lines
from apps.core.api.permissions import TokenOnlyView
from apps.core.api.serializers import ErrorSerializer
from apps.core.categories import Category
from apps.core.errors import TakedownError
from apps.intake.api import serializers as s
from apps.intake.api.auth import FlaggerTokenAuthentication, IsFlagger
from apps.intake.flaggers import MAX_IDENTIFIERS, flagger_submit
from apps.matching.models import Match
from apps.matching.selectors import request_pending_releases
from apps.removals.models import HotlineReport, RemovalRequest

_400 = OpenApiResponse(ErrorSerializer, description="Invalid input; nothing was written. `errors` names each "
                                                    "problem: `index N: ...` (JSON) or `line N: ...` (CSV).")
_401 = OpenApiResponse(ErrorSerializer, description="Missing, unknown or revoked flagger token.")
_403 = OpenApiResponse(ErrorSerializer, description="Authenticated, but not as a trusted flagger.")
_404 = OpenApiResponse(ErrorSerializer, description="No request of yours has this tracking id.")
_413 = OpenApiResponse(ErrorSerializer, description=f"The body is larger than {MAX_BODY_BYTES // 2**20} MiB.")
_415 = OpenApiResponse(ErrorSerializer, description="The body is neither application/json nor text/csv.")

_FORMAT_PARAM = api_settings.URL_FORMAT_OVERRIDE  # the response format, allowed on any request
# With a text/csv body, the submission's other fields come as query parameters.
_CSV_PARAMS = {
    "category": "category", "reference": "reference", "notes": "notes", "dataset": "dataset", "release": "release",
}
_CSV_HOTLINE_PARAMS = {
    "hotline": "hotline", "hotline_report_id": "report_id", "hotline_reported_at": "reported_at",
    "hotline_name": "hotline_name",
}
_CSV_PARAMETERS = [
    OpenApiParameter(name, str, OpenApiParameter.QUERY, description=f"With a text/csv body only. {text}")
    for name, text in (
        ("category", f"Required. One of: {', '.join(Category.values)}."),
        ("reference", "Required. Your own reference; sending it again returns the request already logged."),
        ("notes", "Optional notes for the reviewers."),
        ("dataset", "Apply only to this dataset's releases (required with key identifiers)."),
        ("release", "With dataset: apply only to this release."),
        ("hotline", "csam only: the hotline the report was filed with (ncmec, iwf, c3p, other)."),
        ("hotline_report_id", "csam only, with hotline: the hotline's report id."),
        ("hotline_reported_at", "csam only, with hotline: when it was reported (ISO 8601; default: now)."),
        ("hotline_name", "With hotline=other: the hotline's name."),
    )
]


class FlaggerView(TokenOnlyView):
    """Only a flagger token opens these endpoints: a staff session is not enough."""

    authentication_classes = [FlaggerTokenAuthentication]
    permission_classes = [IsFlagger]


def _options(data) -> dict:
    options = s.SubmissionOptionsSerializer(data=data)
    if not options.is_valid():
        raise TakedownError("invalid submission, nothing was written", details=error_lines(options.errors))
    return options.validated_data


def _read(request) -> tuple[dict, list]:
    """The submission's fields and identifiers, from a JSON or CSV body, all validated."""
    params = {name for name in request.query_params if name != _FORMAT_PARAM}
    if media_type_of(request) == CSVParser.media_type:
        unknown = params - set(_CSV_PARAMS) - set(_CSV_HOTLINE_PARAMS)
        if unknown:
            raise TakedownError(
                f"unknown query parameter{'s' if len(unknown) > 1 else ''} {', '.join(sorted(unknown))} "
                f"(expected: {', '.join([*_CSV_PARAMS, *_CSV_HOTLINE_PARAMS])})")
        query = request.query_params
        data = {field: query[name] for name, field in _CSV_PARAMS.items() if name in query}
        hotline = {field: query[name] for name, field in _CSV_HOTLINE_PARAMS.items() if name in query}
        if hotline:
            data["hotline"] = hotline
        options = _options(data)
        body = request.data if isinstance(request.data, bytes | str) else b""
        return options, identifiers_from_csv(body, limit=MAX_IDENTIFIERS)
    body = request.data
    if not isinstance(body, dict):
        raise TakedownError("the JSON body must be an object with category, reference and identifiers")
    if params:
        raise TakedownError(f"query parameters {', '.join(sorted(params))} are only read with a text/csv body: "
                            "put the fields in the JSON object")
    fields = set(s.SubmissionSerializer().fields)
    unknown = set(body) - fields
    if unknown:
        raise TakedownError(f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(sorted(unknown))} "
                            f"(expected: {', '.join(sorted(fields))})")
    options = _options({k: v for k, v in body.items() if k != "identifiers"})
    if "identifiers" not in body:
        raise TakedownError("identifiers: this field is required (a list of {kind, value} objects)")
    return options, identifiers_from_json(body["identifiers"], limit=MAX_IDENTIFIERS)


def _status(request: RemovalRequest) -> dict:
    releases = (
        Match.objects.filter(request=request)
        .values("release__dataset__name", "release__name")
        .annotate(n=Count("id"))
        .order_by("release__dataset__name", "release__name")
    )
    report = HotlineReport.objects.filter(request=request).first()
    return {
        **{name: getattr(request, name) for name in (
            "tracking_id", "reference", "category", "status", "received_at", "due_at", "decided_at",
            "decision_reason", "matched_at", "published_at", "completed_at")},
        "identifiers": request.identifiers.count(),
        "dataset": request.dataset.name if request.dataset_id else None,
        "release": request.release.name if request.release_id else None,
        "hotline": None if report is None else {
            "hotline": report.hotline, "hotline_name": report.hotline_name, "report_id": report.report_id,
            "reported_at": report.reported_at,
        },
        "flood_hold": None if request.flood_held_at is None else {
            "held_at": request.flood_held_at, "samples": request.flood_samples, "detail": request.flood_detail,
            "released_at": request.flood_released_at,
        },
        "releases": [{"dataset": r["release__dataset__name"], "release": r["release__name"], "matches": r["n"]}
                     for r in releases],
        "releases_pending": [
            {"dataset": p.release.dataset.name, "release": p.release.name, "state": p.state,
             "detail": f"not yet matched against {p}"} for p in request_pending_releases(request=request)],
    }


@extend_schema(tags=["trusted flaggers"])
class RequestsView(FlaggerView):
    parser_classes = [JSONBodyParser, CSVParser]

    @extend_schema(
        summary="Submit a removal request",
        description=(
            "Logs a removal request with up to "
            f"{MAX_IDENTIFIERS:,} identifiers, as a JSON object or as a text/csv body with a `kind,value` header "
            "and the other fields as query parameters (only then). Every identifier is validated first; any bad "
            "one fails the request, each named by index (JSON) or line (CSV), and nothing is written. "
            "Idempotent on `reference`: sending a reference again returns the request logged the first time "
            "(200, `created: false`), with `identical: false` if this submission's category or identifiers "
            "differ from it. A csam request from a hotline may be approved on receipt (the host's review "
            f"policy). At most {MAX_BODY_BYTES // 2**20} MiB per request."
        ),
        request={"application/json": s.SubmissionSerializer, "text/csv": OpenApiTypes.STR},
        parameters=_CSV_PARAMETERS,
        responses={
            201: OpenApiResponse(s.SubmissionResultSerializer, description="Logged now."),
            200: OpenApiResponse(s.SubmissionResultSerializer,
                                 description="The reference was already used: the request logged then."),
            400: _400, 401: _401, 403: _403, 413: _413, 415: _415,
        },
    )
    def post(self, request):
        options, identifiers = _read(request)
        submission = flagger_submit(
            flagger=request.auth, category=options["category"], reference=options["reference"],
            identifiers=identifiers, hotline=options.get("hotline"), notes=options.get("notes", ""),
            dataset=options.get("dataset", ""), release=options.get("release", ""),
        )
        removal = submission.request
        body = {
            "tracking_id": removal.tracking_id, "reference": removal.reference, "status": removal.status,
            "category": removal.category, "due_at": removal.due_at, "identifiers": removal.identifiers.count(),
            "created": submission.created, "identical": submission.identical,
        }
        return Response(s.SubmissionResultSerializer(body).data,
                        status=status.HTTP_201_CREATED if submission.created else status.HTTP_200_OK)

    @extend_schema(
        summary="Find your request by your reference",
        description="Your requests with this reference: one, or none (an empty list).",
        parameters=[s.RequestLookupSerializer],
        responses={200: s.RequestStatusSerializer(many=True), 401: _401, 403: _403,
                   400: OpenApiResponse(ErrorSerializer, description="No reference given.")},
    )
    def get(self, request):
        query = s.RequestLookupSerializer(data=request.query_params)
        if not query.is_valid():
            raise TakedownError("give the reference to look up (?reference=...)", details=error_lines(query.errors))
        found = RemovalRequest.objects.filter(flagger=request.auth, reference=query.validated_data["reference"].strip())
        return Response(s.RequestStatusSerializer([_status(r) for r in found.order_by("id")], many=True).data)


@extend_schema(tags=["trusted flaggers"])
class RequestDetailView(FlaggerView):
    @extend_schema(
        summary="The status of one of your requests",
        description="Where the request stands, when it is due, why it was decided so, how many samples of "
                    "each release it matches, and which releases it was not matched against yet (still "
                    "indexing: until they are ready, a release missing from `releases` may still hold what it "
                    "names). Only the flagger that submitted it can see it.",
        responses={200: s.RequestStatusSerializer, 401: _401, 403: _403, 404: _404},
    )
    def get(self, request, tracking_id: str):
        found = RemovalRequest.objects.filter(flagger=request.auth, tracking_id=tracking_id.strip().upper()).first()
        if found is None:
            raise NotFound(f"you have no request {tracking_id!r}")
        return Response(s.RequestStatusSerializer(_status(found)).data)
