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
