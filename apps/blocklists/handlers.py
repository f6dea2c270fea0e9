"""What the blocklists stage does when matching found what a request hits, or what should be blocked changed."""
from apps.blocklists.services import blocklist_publish
from apps.core import faults
from apps.datasets.models import Release
from apps.events.registry import subscribe
from apps.matching.events import ALLOW_LIST_CHANGED, RELEASE_MATCHED, REQUEST_MATCHED
from apps.matching.models import Match
from apps.removals.events import REQUEST_REINSTATED
from apps.removals.models import BLOCKING_STATUSES, RemovalRequest
from apps.removals.services import request_mark_published


def _releases(ids) -> list[Release]:
    return list(Release.objects.filter(pk__in=ids, status=Release.Status.READY).select_related("dataset")
                .order_by("pk"))


@subscribe(REQUEST_MATCHED, name="blocklists.publish_request")
def publish_request(event) -> None:
    """Publish every release an approved request hits, then report it published.

    A request still under review is left alone: only its approval publishes it.
    So is one the flood check held (it is back in triage; a reviewer's approval
    releases it).
    """
    request = RemovalRequest.objects.filter(pk=event.payload["request"]).first()
    if request is None or request.status not in BLOCKING_STATUSES or request.flood_held:
        return
    hit = Match.objects.filter(request=request).values("release_id")
    versions = []
    for release in _releases(hit):
        result = blocklist_publish(release=release, requests=[request])
        if result.version is not None:
            versions.append(str(result.version))
    faults.point("blocklists.request.published_all")
    request_mark_published(request=request, versions=versions)


@subscribe(RELEASE_MATCHED, name="blocklists.publish_release")
def publish_release(event) -> None:
    """A new release met the approved requests: its first blocklist, if they hit it."""
    for release in _releases([event.payload["release"]]):
        hit = list(RemovalRequest.objects.filter(status__in=BLOCKING_STATUSES, matches__release=release).distinct())
        if hit:
            blocklist_publish(release=release, requests=hit)


@subscribe(REQUEST_REINSTATED, name="blocklists.unblock_request")
def unblock_request(event) -> None:
    """A reinstated request's samples leave the next version of every release it hit."""
    for release in _releases(Match.objects.filter(request_id=event.payload["request"]).values("release_id")):
        blocklist_publish(release=release)


@subscribe(ALLOW_LIST_CHANGED, name="blocklists.republish")
def republish(event) -> None:
    """An allow-list entry was added or revoked: the releases it touches get a version without (or with) it."""
    for release in _releases(event.payload["releases"]):
        blocklist_publish(release=release)
