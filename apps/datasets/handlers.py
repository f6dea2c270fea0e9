"""What the datasets stage does for a release imported in the background: index each shard, then finalize."""
from apps.core.errors import TakedownError
from apps.datasets.events import RELEASE_INDEXED, SHARD_QUEUED
from apps.datasets.models import Release, Shard
from apps.datasets.services import release_finalize, shard_index
from apps.events.registry import subscribe


@subscribe(SHARD_QUEUED, name="datasets.index_shard")
def index_shard(event) -> None:
    """Index one shard; the last one records release.indexed. A bad shard fails the whole release."""
    shard = Shard.objects.select_related("release__dataset").filter(pk=event.payload["shard"]).first()
    if shard is None or shard.release.status != Release.Status.INDEXING or shard.indexed_at is not None:
        return
    try:
        shard_index(shard=shard)
    except TakedownError as exc:  # the release is what failed, for staff to see and import again
        Release.objects.filter(pk=shard.release_id).update(status=Release.Status.FAILED, error=exc.message)


@subscribe(RELEASE_INDEXED, name="datasets.finalize_release")
def finalize_release(event) -> None:
    """Build the release's index from its parts and make it ready (release.ready)."""
    release = Release.objects.filter(pk=event.payload["release"], status=Release.Status.INDEXING).first()
    if release is None:
        return
    try:
        release_finalize(release=release)
    except TakedownError:
        return  # marked failed, with the reason, for the admin to see
