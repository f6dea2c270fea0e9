"""Reading published blocklist versions, and what publishing needs to know."""
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from apps.blocklists.models import BlocklistVersion
from apps.core.errors import TakedownError
from apps.datasets.models import Release


def blocklist_version_get(*, release: Release, version: int | None = None) -> BlocklistVersion:
    """A published version of a release's blocklist (the latest when `version` is None)."""
    versions = release.blocklist_versions.select_related("release__dataset")
    if version is None:
        found = versions.order_by("-version").first()
        if found is None:
            raise TakedownError(f"{release} has no published blocklist yet")
        return found
    found = versions.filter(version=version).first()
    if found is None:
        latest = versions.order_by("-version").values_list("version", flat=True).first()
        hint = f"latest is {latest}" if latest else "none published yet"
        raise TakedownError(f"{release} has no blocklist version {version} ({hint})")
    return found


def releases_due_for_refresh(*, now: datetime | None = None) -> list[int]:
    """Ids of releases whose latest version expires within BLOCKLIST_REFRESH_DAYS (or has expired)."""
    cutoff = (now or timezone.now()) + timedelta(days=settings.BLOCKLIST_REFRESH_DAYS)
    newest = BlocklistVersion.objects.filter(release=OuterRef("release")).order_by("-version").values("version")[:1]
    due = BlocklistVersion.objects.filter(version=Subquery(newest), expires_at__lte=cutoff)
    return list(due.order_by("release_id").values_list("release_id", flat=True))


def release_key_shards(*, release: Release, keys: list[str]) -> dict[str, str]:
    """The shard of each key that is a sample of a release, from its index (keys not found are left out)."""
    from apps.index import fingerprints
    from apps.index.index import open_index

    found: dict[str, str] = {}
    if not keys:
        return found
    for segment in open_index(release.index_path).segments:
        hits = segment.exact("key", fingerprints.strings(keys))
        rows = segment.rows(hits.row, ["key"])
        for query, key, shard in zip(hits.query.tolist(), rows["key"], rows["shard"]):
            if keys[query] == key:  # fingerprints can collide
                found[key] = shard
    return found
