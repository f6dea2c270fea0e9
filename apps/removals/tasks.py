from celery import shared_task

from apps.core.errors import TakedownError
from apps.removals.models import RemovalRequest
from apps.removals.services import request_publish, requests_to_resume


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
    """Periodic: re-queue approved requests whose publish message was lost."""
    for request_id in requests_to_resume():
        request_publish_task.delay(request_id)


@shared_task(bind=True, max_retries=10, retry_backoff=True, retry_backoff_max=600)
def request_match_task(self, request_id: int) -> None:
    """Match a new request against every release so reviewers see what it hits."""
    from apps.matching.services import request_match

    request = RemovalRequest.objects.filter(pk=request_id).first()
    if request is None:
        return
    try:
        request_match(request=request)
    except Exception as exc:
        raise self.retry(exc=exc)
