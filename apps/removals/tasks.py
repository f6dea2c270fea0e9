from celery import shared_task

from apps.core.errors import TakedownError
from apps.removals.models import RemovalRequest
from apps.removals.services import release_catch_up, releases_to_catch_up, request_publish, requests_to_resume


@shared_task(bind=True, max_retries=10, retry_backoff=True, retry_backoff_max=600)
def request_publish_task(self, request_id: int) -> None:
    """Publish an approved request (idempotent); a rejected or missing request is left alone."""
    request = RemovalRequest.objects.filter(pk=request_id).first()
    if request is None:
        return
    try:
        request_publish(request=request)
    except TakedownError:
        return  # no longer approved: nothing to publish
    except Exception as exc:  # storage or database hiccup: try again later
        raise self.retry(exc=exc)


@shared_task
def requests_resume_task() -> None:
    """Periodic: re-queue approved requests whose publish message was lost, and new releases
    whose catch-up with the approved requests never finished."""
    for request_id in requests_to_resume():
        request_publish_task.delay(request_id)
    for release_id in releases_to_catch_up():
        release_catch_up_task.delay(release_id)


@shared_task(bind=True, max_retries=10, retry_backoff=True, retry_backoff_max=600)
def release_catch_up_task(self, release_id: int) -> None:
    """Apply the approved requests to a ready release (idempotent)."""
    from apps.datasets.models import Release

    release = Release.objects.filter(pk=release_id, status=Release.Status.READY).first()
    if release is None:
        return
    try:
        release_catch_up(release=release)
    except Exception as exc:
        raise self.retry(exc=exc)


@shared_task
def request_match_task(request_id: int) -> None:
    """Match a new request so reviewers see what it hits: one task per index segment of every ready
    release, on any worker (a LAION-sized release has hundreds of segments)."""
    from apps.datasets.models import Release
    from apps.matching.index import open_index

    if not RemovalRequest.objects.filter(pk=request_id).exists():
        return
    for release in Release.objects.filter(status=Release.Status.READY).select_related("dataset"):
        for segment in open_index(release.index_path).segments:
            segment_match_task.delay(request_id, release.pk, segment.folder.name)


@shared_task(bind=True, max_retries=10, retry_backoff=True, retry_backoff_max=600)
def segment_match_task(self, request_id: int, release_id: int, segment: str) -> None:
    """Match a request against one index segment of one release (safe to run twice, and beside the others)."""
    from apps.datasets.models import Release
    from apps.matching.services import request_match

    request = RemovalRequest.objects.filter(pk=request_id).first()
    release = Release.objects.filter(pk=release_id, status=Release.Status.READY).first()
    if request is None or release is None:
        return
    try:
        request_match(request=request, releases=[release], segment=segment)
    except Exception as exc:
        raise self.retry(exc=exc)


@shared_task
def reminders_task() -> None:
    """Periodic: email staff about overdue and soon-due requests."""
    from apps.removals.deadlines import reminders_send

    reminders_send()


@shared_task
def counter_notices_task() -> None:
    """Periodic: restore removals whose counter-notice window opened with no lawsuit recorded."""
    from apps.core.actors import Actor
    from apps.removals.legal import counter_notices_due, request_reinstate

    for notice in counter_notices_due():
        request_reinstate(notice=notice, actor=Actor(label="system:counter-notice"))
