"""Reading published blocklist versions."""
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
