from celery import shared_task

from apps.blocklists.selectors import releases_due_for_refresh
from apps.blocklists.services import blocklist_publish, blocklist_refresh
from apps.datasets.models import Release


@shared_task(bind=True, max_retries=10, retry_backoff=True, retry_backoff_max=600)
def release_republish_task(self, release_id: int) -> None:
    """Publish a release's blocklist again after what it should carry changed (idempotent)."""
    release = Release.objects.filter(pk=release_id).first()
    if release is None:
        return
    try:
        blocklist_publish(release=release)
    except Exception as exc:
        raise self.retry(exc=exc)


@shared_task(bind=True, max_retries=10, retry_backoff=True, retry_backoff_max=600)
def release_refresh_task(self, release_id: int) -> None:
    """Renew a release's blocklist if its latest version expires soon (idempotent)."""
    release = Release.objects.filter(pk=release_id).first()
    if release is None:
        return
    try:
        blocklist_refresh(release=release)
    except Exception as exc:
        raise self.retry(exc=exc)


@shared_task
def blocklists_refresh_task() -> None:
    """Beat: queue a refresh of every release whose latest version expires within BLOCKLIST_REFRESH_DAYS."""
    for release_id in releases_due_for_refresh():
        release_refresh_task.delay(release_id)
