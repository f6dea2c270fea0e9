import fcntl
import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from celery import shared_task
from django.db import DatabaseError, connection

from apps.core.errors import TakedownError
from apps.datasets.models import Release, Shard
from apps.datasets.services import release_claim_finalize, release_finalize, shard_index

logger = logging.getLogger(__name__)
# PostgreSQL advisory locks on (this, release id): two-integer keys, apart from apps.core.locks' one-integer keys.
_FINALIZE_LOCKS = zlib.crc32(b"release-finalize") - 2**31


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


@contextmanager
def _finalizing(release: Release) -> Iterator[bool]:
    """Whether this process may finalize the release now: while it does, no other process can.

    The lock dies with the process that holds it, however it dies: PostgreSQL
    drops a killed worker's session lock with its connection, and the OS its
    lock on a file (SQLite serves workers on one machine). So a finalize taken
    over from a dead worker never runs beside a live one.
    """
    if connection.vendor == "postgresql":
        key = [_FINALIZE_LOCKS, release.pk]
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s::int, %s::int)", key)
            locked = cursor.fetchone()[0]
        try:
            yield locked
        finally:
            if locked:
                try:
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT pg_advisory_unlock(%s::int, %s::int)", key)
                except DatabaseError:
                    connection.close()  # which lets go of the lock too
        return
    release.index_path.mkdir(parents=True, exist_ok=True)
    with open(release.index_path / ".finalize.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            locked = True
        except BlockingIOError:
            locked = False
        yield locked  # closing the file lets go


@shared_task(bind=True, max_retries=5, retry_backoff=True, retry_backoff_max=300)
def release_finalize_task(self, release_id: int) -> None:
    """Build the release's index from its parts, then apply approved removals to it (safe to run twice)."""
    from apps.removals.services import release_catch_up

    release = Release.objects.select_related("dataset").filter(pk=release_id, status=Release.Status.INDEXING).first()
    if release is None:
        return
    with _finalizing(release) as mine:
        if not mine:
            logger.info("%s is being finalized by another worker", release)
            return
        # Read again under the lock: a finalize that just ended has made it ready.
        if not Release.objects.filter(pk=release_id, status=Release.Status.INDEXING).exists():
            return
        try:
            release = release_finalize(release=release)
        except TakedownError:
            return  # marked failed, with the reason, for the admin to see
    release_catch_up(release=release)


def release_index_later(release: Release) -> int:
    """Queue every shard of a registered release not yet indexed; the last one to finish queues the finalize.

    Called again for a release whose worker died (`import_release --background`
    does), it resumes: the shards still to index are queued again or, when
    all are indexed, the finalize, even one that a dead worker had claimed
    (its lease would hold the release up for FINALIZE_LEASE). Messages that
    were not lost then run twice, which shows nowhere: a shard already
    indexed is skipped (one indexed twice at once gets the same part twice),
    and only one finalize runs at a time, the next one finding it done.
    """
    pending = list(release.shards.filter(indexed_at__isnull=True).values_list("pk", flat=True))
    for shard_id in pending:
        shard_index_task.delay(shard_id)
    if not pending and release.status == Release.Status.INDEXING:
        release_claim_finalize(release=release)  # so that no shard task queues another
        release_finalize_task.delay(release.pk)
    return len(pending)
