"""Reading datasets and releases."""
from dataclasses import dataclass

from django.db.models import Count, Q

from apps.core.errors import TakedownError
from apps.datasets.models import Dataset, Release


def dataset_get(*, name: str) -> Dataset:
    """The dataset with this name, or a TakedownError naming the ones that exist."""
    try:
        return Dataset.objects.get(name=name)
    except Dataset.DoesNotExist:
        known = ", ".join(Dataset.objects.values_list("name", flat=True)[:20]) or "none yet"
        raise TakedownError(f"unknown dataset {name!r} (known: {known})") from None


def release_get(*, dataset: str, release: str) -> Release:
    """The release `release` of dataset `dataset`, or a TakedownError saying which part is unknown."""
    ds = dataset_get(name=dataset)
    try:
        return Release.objects.select_related("dataset").get(dataset=ds, name=release)
    except Release.DoesNotExist:
        known = ", ".join(ds.releases.values_list("name", flat=True)[:20]) or "none yet"
        raise TakedownError(f"dataset {dataset!r} has no release {release!r} (known: {known})") from None


@dataclass(frozen=True)
class ReleaseProgress:
    """How far a release got: its status and how many of its shards are indexed."""

    release: Release
    shards_indexed: int

    def __str__(self) -> str:
        if self.release.status == Release.Status.FAILED:
            return "failed to index"
        if self.release.status == Release.Status.READY:
            return "ready"
        return f"indexing, {self.shards_indexed} of {self.release.shard_count} shards"


def _with_progress(releases) -> list[ReleaseProgress]:
    releases = releases.select_related("dataset").annotate(
        indexed=Count("shards", filter=Q(shards__indexed_at__isnull=False)))
    return [ReleaseProgress(release=r, shards_indexed=r.indexed) for r in releases.order_by("dataset__name", "name")]


def releases_not_ready(*, dataset: Dataset | None = None) -> list[ReleaseProgress]:
    """Every release (of `dataset`, if given) not ready to be matched: still indexing, or failed; by name."""
    releases = Release.objects.exclude(status=Release.Status.READY)
    return _with_progress(releases if dataset is None else releases.filter(dataset=dataset))


def releases_progress(*, ids: list[int]) -> list[ReleaseProgress]:
    """How far each of these releases got, whatever its status; by name."""
    return _with_progress(Release.objects.filter(pk__in=ids))


def release_progress(*, release: Release) -> ReleaseProgress:
    """How far `release` got (its status and shards indexed), as stored now."""
    return ReleaseProgress(release=release, shards_indexed=release.shards.filter(indexed_at__isnull=False).count())


def release_samples(*, release: Release, limit: int = 100) -> list[dict]:
    """The first samples of a ready release, from its index: shard, key, url and digests (hex)."""
    import numpy as np

    from apps.index.index import open_index

    segment = open_index(release.index_path).segments[0]
    count = min(limit, segment.meta["rows"])
    columns = ["key", "url", "md5", "sha256", "pdq"]
    values = segment.rows(np.arange(count), columns)
    return [
        {name: (v.hex() if isinstance(v, bytes) else v) for name, v in
         ((name, values[name][i]) for name in (*columns, "shard"))}
        for i in range(count)
    ]
