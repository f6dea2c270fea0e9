from celery import shared_task

from apps.blocklists.selectors import releases_due_for_refresh
from apps.blocklists.services import blocklist_refresh
from apps.core.errors import TakedownError
from apps.datasets.models import Release


# A TakedownError needs a person (bad storage settings): retrying cannot help, the next beat tries again.
@shared_task(autoretry_for=(Exception,), dont_autoretry_for=(TakedownError,), retry_backoff=True,
             retry_backoff_max=600, max_retries=10)
def release_refresh_task(release_id: int) -> None:
    """Renew a release's blocklist if its latest version expires soon (idempotent)."""
    release = Release.objects.filter(pk=release_id).first()
    if release is not None:
        blocklist_refresh(release=release)


@shared_task
def blocklists_refresh_task() -> None:
    """Beat: queue a refresh of every release whose latest version expires within BLOCKLIST_REFRESH_DAYS."""
    for release_id in releases_due_for_refresh():
        release_refresh_task.delay(release_id)
