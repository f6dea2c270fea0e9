from celery import shared_task

from apps.core.errors import TakedownError
from apps.datasets.models import Release, Shard
from apps.datasets.services import release_claim_finalize, release_finalize, shard_index


@shared_task(bind=True, max_retries=5, retry_backoff=True, retry_backoff_max=300)
def shard_index_task(self, shard_id: int) -> None:
    """Index one shard, then finalize the release if it was the last one (safe to run twice)."""
    shard = Shard.objects.select_related("release__dataset").filter(pk=shard_id).first()
    if shard is None or shard.release.status != Release.Status.INDEXING:
        return
    if shard.indexed_at is None:
        try:
            shard_index(shard=shard)
        except TakedownError as exc:
            Release.objects.filter(pk=shard.release_id).update(status=Release.Status.FAILED, error=exc.message)
            return
    if release_claim_finalize(release=shard.release):
        release_finalize_task.delay(shard.release_id)


@shared_task(bind=True, max_retries=5, retry_backoff=True, retry_backoff_max=300)
def release_finalize_task(self, release_id: int) -> None:
    """Build the release's index from its parts, then apply approved removals to it."""
    from apps.removals.services import release_catch_up

    release = Release.objects.filter(pk=release_id, status=Release.Status.INDEXING).first()
    if release is None:
        return
    try:
        release = release_finalize(release=release)
    except TakedownError:
        return  # marked failed, with the reason, for the admin to see
    release_catch_up(release=release)


def release_index_later(release: Release) -> int:
    """Queue every shard of a registered release; the last one to finish queues the finalize."""
    pending = list(release.shards.filter(indexed_at__isnull=True).values_list("pk", flat=True))
    for shard_id in pending:
        shard_index_task.delay(shard_id)
    if not pending and release_claim_finalize(release=release):
        release_finalize_task.delay(release.pk)
    return len(pending)
