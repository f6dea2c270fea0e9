"""Reading datasets and releases."""
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
