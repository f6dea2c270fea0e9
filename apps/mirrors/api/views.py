"""The mirror sync API: feed, releases, blocklist files and acknowledgements."""
from django.http import HttpResponse, HttpResponseRedirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response

from apps.blocklists.models import BlocklistVersion
from apps.blocklists.selectors import (
    MANIFEST,
    SIGNATURE,
    blocklist_files,
    blocklist_public_url,
    blocklist_read,
    blocklist_version_get,
)
from apps.core.api.permissions import TokenOnlyView
from apps.core.api.serializers import ErrorSerializer
from apps.core.errors import TakedownError
from apps.datasets.models import Release
from apps.datasets.selectors import release_get
from apps.mirrors.api import serializers as s
from apps.mirrors.api.auth import IsMirror, MirrorTokenAuthentication
from apps.mirrors.selectors import feed_etag, feed_floor, feed_page, feed_resync
from apps.mirrors.services import ack_record, feed_event_payload

_ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input; the message says what and where."),
    401: OpenApiResponse(ErrorSerializer, description="Missing or unknown mirror token."),
    403: OpenApiResponse(ErrorSerializer, description="The mirror is not subscribed to this dataset."),
    404: OpenApiResponse(ErrorSerializer, description="No such dataset, release, version or file."),
}
# Published versions never change: a client may keep them for good. Private: the answer needs a mirror
# token, so a shared cache must not hand it to others (a CDN serves BLOCKLISTS_PUBLIC_URL instead).
_IMMUTABLE = "private, max-age=31536000, immutable"


class MirrorView(TokenOnlyView):
    authentication_classes = [MirrorTokenAuthentication]
    permission_classes = [IsMirror]

    def subscribed_release(self, request, dataset: str, release: str) -> Release:
        if not request.auth.subscriptions.filter(dataset__name=dataset).exists():
            raise PermissionDenied(f"mirror {request.auth.name!r} is not subscribed to dataset {dataset!r}")
        try:
            return release_get(dataset=dataset, release=release)
        except TakedownError as exc:
            raise NotFound(exc.message) from None

    def version(self, request, dataset: str, release: str, version: int) -> BlocklistVersion:
        # One query in the common case (every mirror fetches each version); the slow path names what is wrong.
        found = BlocklistVersion.objects.select_related("release__dataset").filter(
            release__dataset__name=dataset, release__name=release, version=version,
            release__dataset__subscriptions__mirror=request.auth,
        ).first()
        if found is not None:
            return found
        rel = self.subscribed_release(request, dataset, release)
        try:
            return blocklist_version_get(release=rel, version=version)
        except TakedownError as exc:
            raise NotFound(exc.message) from None


def _feed_event(event) -> dict:
    return {"id": event.pk, "type": event.type, "created_at": event.created_at, **event.payload}


def _etag_matches(header: str, etag: str) -> bool:
    # If-None-Match compares weakly: W/"x" and "x" are the same tag.
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags


@extend_schema(tags=["mirror sync"])
class FeedView(MirrorView):
    @extend_schema(
        summary="Events after a cursor",
        description="Answers 304 to a matching If-None-Match (the ETag of the same query), and 410 with where "
                    "to resync from when the cursor is older than the feed's retention window.",
        parameters=[s.FeedQuerySerializer],
        responses={200: s.FeedPageSerializer, 304: OpenApiResponse(description="Nothing new since that ETag."),
                   410: s.FeedResyncSerializer, **_ERRORS},
    )
    def get(self, request):
        query = s.FeedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        after = query.validated_data["after"]
        floor = feed_floor()
        if 0 < after < floor:
            cursor, latest = feed_resync(mirror=request.auth)
            body = {
                "detail": f"cursor {after} is older than the feed's retention window: resync from the latest "
                          "versions",
                "resync": True,
                "cursor": cursor,
                "latest": [_feed_event(e) for e in latest],
            }
            return Response(s.FeedResyncSerializer(body).data, status=status.HTTP_410_GONE)
        etag = feed_etag(mirror=request.auth, **query.validated_data)
        if _etag_matches(request.headers.get("If-None-Match", ""), etag):
            response = HttpResponse(status=status.HTTP_304_NOT_MODIFIED)
            response["ETag"] = etag
            return response
        events, more, cursor = feed_page(mirror=request.auth, **query.validated_data)
        body = {"events": [_feed_event(e) for e in events], "more": more, "next": cursor}
        response = Response(s.FeedPageSerializer(body).data)
        response["ETag"] = etag
        return response


@extend_schema(tags=["mirror sync"])
class ReleasesView(MirrorView):
    @extend_schema(summary="Releases of a dataset, with shard digests",
                   responses={200: s.ReleasesSerializer, **_ERRORS})
    def get(self, request, dataset: str):
        if not request.auth.subscriptions.filter(dataset__name=dataset).exists():
            raise PermissionDenied(f"mirror {request.auth.name!r} is not subscribed to dataset {dataset!r}")
        releases = []
        for release in Release.objects.filter(dataset__name=dataset).prefetch_related("shards"):
            latest = release.blocklist_versions.order_by("-version").values_list("version", flat=True).first()
            releases.append({
                "release": release.name,
                "latest_version": latest,
                "shard_count": release.shard_count,
                "shards": [{"shard": sh.name, "parquet_sha256": sh.parquet_sha256} for sh in release.shards.all()],
            })
        return Response(s.ReleasesSerializer({"dataset": dataset, "releases": releases}).data)


@extend_schema(tags=["mirror sync"])
class VersionsView(MirrorView):
    @extend_schema(summary="Published blocklist versions of a release, newest first",
                   responses={200: s.VersionSerializer(many=True), **_ERRORS})
    def get(self, request, dataset: str, release: str):
        rel = self.subscribed_release(request, dataset, release)
        rows = [
            {**{f: getattr(v, f) for f in ("version", "created_at", "expires_at", "shard_count", "manifest_sha256")},
             # What the files hold, decoys included, as the manifest's total_keys says.
             "key_count": v.total_keys,
             "manifest_url": feed_event_payload(v)["manifest_url"]}
            for v in rel.blocklist_versions.select_related("release__dataset").order_by("-version")
        ]
        return Response(s.VersionSerializer(rows, many=True).data)


def _serve(version: BlocklistVersion, name: str, content_type: str) -> HttpResponse:
    """A file of a version, or with BLOCKLISTS_PUBLIC_URL a redirect to its public copy (the client checks
    the manifest's signature and every file's sha256, so where the bytes come from does not matter)."""
    url = blocklist_public_url(version=version, name=name)
    if url:
        response = HttpResponseRedirect(url)
    else:
        response = HttpResponse(blocklist_read(version=version, name=name), content_type=content_type)
    response["Cache-Control"] = _IMMUTABLE
    return response


# A manifest's signature, sent along with it (the same base64 as manifest.json.sig).
SIGNATURE_HEADER = "Takedown-Signature"
_REDIRECT = {302: OpenApiResponse(description="With BLOCKLISTS_PUBLIC_URL set: the file's public address.")}


@extend_schema(tags=["mirror sync"])
class ManifestView(MirrorView):
    @extend_schema(summary="A version's manifest.json, byte for byte as signed",
                   responses={(200, "application/json"): OpenApiTypes.BINARY, **_REDIRECT, **_ERRORS})
    def get(self, request, dataset: str, release: str, version: int):
        found = self.version(request, dataset, release, version)
        response = _serve(found, MANIFEST, "application/json")
        if response.status_code == 200:
            # The signature too, so a client needs one request, not two (manifest.json.sig stays the reference).
            response[SIGNATURE_HEADER] = blocklist_read(version=found, name=SIGNATURE).decode("ascii").strip()
        return response


@extend_schema(tags=["mirror sync"])
class SignatureView(MirrorView):
    @extend_schema(summary="Base64 Ed25519 signature of the manifest bytes",
                   responses={(200, "text/plain"): OpenApiTypes.STR, **_REDIRECT, **_ERRORS})
    def get(self, request, dataset: str, release: str, version: int):
        found = self.version(request, dataset, release, version)
        return _serve(found, SIGNATURE, "text/plain; charset=us-ascii")


@extend_schema(tags=["mirror sync"])
class FileView(MirrorView):
    @extend_schema(summary="One parquet file of keys: a shard's full list, or a side of its delta",
                   responses={(200, "application/vnd.apache.parquet"): OpenApiTypes.BINARY, **_REDIRECT,
                              **_ERRORS})
    def get(self, request, dataset: str, release: str, version: int, file: str):
        found = self.version(request, dataset, release, version)
        if file not in blocklist_files(version=found):
            raise NotFound(f"{found} has no file {file!r}")
        return _serve(found, file, "application/vnd.apache.parquet")


@extend_schema(tags=["mirror sync"])
class AckView(MirrorView):
    @extend_schema(summary="Report a version as applied or failed",
                   request=s.AckInputSerializer, responses={201: s.AckSerializer, **_ERRORS})
    def post(self, request):
        data = s.AckInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ack = ack_record(mirror=request.auth, **data.validated_data)
        return Response(s.AckSerializer(ack).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["mirror sync"])
class MeView(MirrorView):
    @extend_schema(summary="The mirror this token belongs to", responses={200: s.MeSerializer, **_ERRORS})
    def get(self, request):
        datasets = list(request.auth.subscriptions.values_list("dataset__name", flat=True))
        return Response(s.MeSerializer({"name": request.auth.name, "datasets": datasets}).data)
