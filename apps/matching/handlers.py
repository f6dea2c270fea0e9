"""What the matching stage does when a request is logged or approved, or a release becomes ready."""
from apps.core import faults
from apps.datasets.events import RELEASE_READY
from apps.datasets.models import Release
from apps.events.registry import subscribe
from apps.events.services import event_record
from apps.matching.events import RELEASE_MATCHED, REQUEST_MATCHED
from apps.matching.selectors import CATCH_UP_HANDLER, request_pending_releases
from apps.matching.services import release_catch_up, request_match
from apps.removals.events import REQUEST_APPROVED, REQUEST_RECEIVED, REQUEST_REMATCH
from apps.removals.models import BLOCKING_STATUSES, RemovalRequest


@subscribe(REQUEST_RECEIVED, REQUEST_APPROVED, REQUEST_REMATCH, name="matching.match_request")
def match_request(event) -> None:
    """Match a request against every ready release: for reviewers when it arrives, for publishing when approved,
    and again when staff ask (request.rematch).

    A request approved by the time its arrival is handled (a hotline's, by
    policy) is matched once, by its approval's run.
    """
    request = RemovalRequest.objects.filter(pk=event.payload["request"]).first()
    if request is None or (event.name == REQUEST_RECEIVED and request.status in BLOCKING_STATUSES):
        return
    summary = request_match(request=request)
    # Releases still indexing (or being caught up) are matched when ready: until then "unmatched" is not final.
    pending = [p.release.pk for p in request_pending_releases(request=RemovalRequest.objects.get(pk=request.pk))]
    faults.point("matching.request.matched")
    event_record(REQUEST_MATCHED, key=str(event.pk), request=request.pk, samples=summary.samples,
                 held=summary.held, matches=summary.matches,
                 new_matches=summary.new_matches, expanded=summary.expanded, releases=sorted(summary.releases),
                 unmatched=len(summary.unmatched), pending=pending)


@subscribe(RELEASE_READY, name=CATCH_UP_HANDLER)
def catch_up_release(event) -> None:
    """Match every request under review or approved against a newly ready release, before its first blocklist."""
    release = Release.objects.filter(pk=event.payload["release"], status=Release.Status.READY).first()
    if release is None:
        return
    hit = release_catch_up(release=release)
    faults.point("matching.release.caught_up")
    event_record(RELEASE_MATCHED, key=str(event.pk), release=release.pk, requests=[r.pk for r in hit])
