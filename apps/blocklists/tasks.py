from celery import shared_task

from apps.blocklists.services import blocklist_publish
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
