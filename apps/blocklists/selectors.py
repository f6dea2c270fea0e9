"""Reading published blocklist versions, and what publishing needs to know."""
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyarrow.parquet as pq
from django.conf import settings
from django.core.files.storage import storages
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from apps.blocklists.models import BlocklistVersion
from apps.core.categories import RESTRICTED_CATEGORIES
from apps.core.errors import NotFoundError, TakedownError
from apps.datasets.models import Release
from apps.matching.models import AllowListEntry, Match
from apps.removals.models import BLOCKING_STATUSES

MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
ADDED, REMOVED = "added", "removed"
# shard name -> keys
Keys = dict[str, set[str]]


def storage():
    """Where published blocklist files live (Django storage: local, or S3 with BLOCKLISTS_S3_BUCKET)."""
    return storages["blocklists"]


def blocking_matches(release: Release):
    """Matches of approved requests in a release, without allow-listed samples and identifiers."""
    allowed = AllowListEntry.objects.filter(revoked_at=None)
    return (
        Match.objects.filter(release=release, request__status__in=BLOCKING_STATUSES)
        .exclude(key__in=allowed.filter(scope=AllowListEntry.Scope.SAMPLE, release=release).values("key"))
        .exclude(Exists(allowed.filter(scope=AllowListEntry.Scope.IDENTIFIER, kind=OuterRef("identifier__kind"),
                                       value=OuterRef("identifier__value"))))
    )


def keys_by_shard(pairs) -> Keys:
    """(shard, key) pairs as keys by shard."""
    found: Keys = {}
    for shard, key in pairs:
        found.setdefault(shard, set()).add(key)
    return found


def keys_of(matches) -> Keys:
    """The (shard, key) of matches, by shard."""
    return keys_by_shard(matches.values_list("shard__name", "key").distinct().order_by().iterator(chunk_size=10_000))


def blocked_keys(release: Release) -> dict[str, list[str]]:
    """The keys every approved request blocks in a release, by shard name, sorted; allow-listed
    samples and matches of allow-listed identifiers are left out. Decoys are not included."""
    return {shard: sorted(keys) for shard, keys in sorted(keys_of(blocking_matches(release)).items())}


def blocklist_read(*, version: BlocklistVersion, name: str) -> bytes:
    """The bytes of one file of a published version: the manifest, its signature or a shard file."""
    path = f"{version.path}/{name}"
    try:
        with storage().open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise TakedownError(f"{version}: no file {name!r}") from None


def listed_files(manifest: dict) -> list[tuple[str, str]]:
    """(file name, sha256) of every data file a manifest lists: full shard files, then delta files."""
    listed = [(entry["file"], entry["sha256"]) for entry in manifest["shards"]]
    for entry in (manifest.get("delta") or {}).get("shards", []):
        for side in (ADDED, REMOVED):
            if entry[f"{side}_file"]:
                listed.append((entry[f"{side}_file"], entry[f"{side}_sha256"]))
    return listed


def blocklist_files(*, version: BlocklistVersion) -> list[str]:
    """Names of the data files of a version (full shard files and delta files), from its manifest."""
    manifest = json.loads(blocklist_read(version=version, name=MANIFEST))
    return [name for name, _ in listed_files(manifest)]


def blocklist_public_url(*, version: BlocklistVersion, name: str) -> str | None:
    """Where BLOCKLISTS_PUBLIC_URL (a CDN or the bucket's own address) serves a file, or None when unset."""
    if not settings.BLOCKLISTS_PUBLIC_URL:
        return None
    return f"{settings.BLOCKLISTS_PUBLIC_URL}/{version.path}/{name}"


def blocklist_manifest_entries(*, version: BlocklistVersion) -> dict[str, dict]:
    """A published version's manifest `shards` entries by shard name, read from storage and checked against the
    digest recorded when it was published."""
    manifest_bytes = blocklist_read(version=version, name=MANIFEST)
    if hashlib.sha256(manifest_bytes).hexdigest() != version.manifest_sha256:
        raise TakedownError(f"{version}: stored manifest does not match its recorded digest")
    return {e["shard"]: e for e in json.loads(manifest_bytes)["shards"]}


def blocklist_entry_keys(*, version: BlocklistVersion, entry: dict) -> set[str]:
    """The keys of one shard file of a version (a manifest entry), checked against the manifest's digest."""
    data = blocklist_read(version=version, name=entry["file"])
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise TakedownError(f"{version}: stored file {entry['file']} does not match the manifest")
    return set(pq.read_table(io.BytesIO(data)).column("key").to_pylist())


def blocklist_shard_keys(*, version: BlocklistVersion, shard: str) -> set[str]:
    """The keys a published version lists for one shard (decoys included: what mirrors drop), read from its
    stored file and checked against its manifest; empty when the version lists nothing for that shard."""
    entry = blocklist_manifest_entries(version=version).get(shard)
    return set() if entry is None else blocklist_entry_keys(version=version, entry=entry)


@dataclass
class VersionFile:
    """One file of a published version, as its manifest lists it."""

    name: str
    kind: str  # manifest, signature, shard, added, removed
    shard: str | None = None
    sha256: str | None = None  # what the manifest says (the manifest's own: recorded when published)
    keys: int | None = None  # how many keys the manifest says it lists
    size: int | None = None  # bytes in storage; None when the file is missing

    @property
    def lists_keys(self) -> bool:
        """A data file: the blocked keys themselves."""
        return self.kind not in ("manifest", "signature")


def _size(path: str) -> int | None:
    store = storage()
    return store.size(path) if store.exists(path) else None


def blocklist_version_files(*, version: BlocklistVersion) -> list[VersionFile]:
    """The files of a published version: its manifest, signature, then the shard and delta files the manifest
    lists, each with the sha256 and key count the manifest gives and its size in storage (None when missing).

    Only these names are files of the version: nothing else in its folder is served (blocklist_version_file).
    """
    manifest_bytes = blocklist_read(version=version, name=MANIFEST)
    manifest = json.loads(manifest_bytes)
    files = [VersionFile(name=MANIFEST, kind="manifest", sha256=version.manifest_sha256, size=len(manifest_bytes)),
             VersionFile(name=SIGNATURE, kind="signature", size=_size(f"{version.path}/{SIGNATURE}"))]
    for entry in manifest["shards"]:
        files.append(VersionFile(name=entry["file"], kind="shard", shard=entry["shard"], sha256=entry["sha256"],
                                 keys=entry["count"]))
    for entry in (manifest.get("delta") or {}).get("shards", []):
        for side in (ADDED, REMOVED):
            if entry[f"{side}_file"]:
                files.append(VersionFile(name=entry[f"{side}_file"], kind=side, shard=entry["shard"],
                                         sha256=entry[f"{side}_sha256"], keys=entry[f"{side}_count"]))
    for file in files[2:]:
        file.size = _size(f"{version.path}/{file.name}")
    return files


def blocklist_version_file(*, version: BlocklistVersion, name: str) -> tuple[VersionFile, bytes]:
    """One file of a version by name, with its bytes: only a name its manifest lists (so no path can reach
    outside the version's folder); a missing file or name says so (NotFoundError)."""
    listed = {f.name: f for f in blocklist_version_files(version=version)}
    if name not in listed or "/" in name or "\\" in name or name.startswith("."):
        raise NotFoundError(f"{version} has no file {name[:200]!r}: only the files its manifest lists")
    file = listed[name]
    if file.size is None:
        raise NotFoundError(f"{version}: the file {name} its manifest lists is missing from the blocklists storage")
    return file, blocklist_read(version=version, name=name)


def blocklist_version_sensitive(*, version: BlocklistVersion) -> bool:
    """Whether a version's data files may list keys of csam or ncii requests: some version of its release up to
    this one carries one (full files keep every key blocked so far). Only restricted staff see those files."""
    return BlocklistVersion.objects.filter(release_id=version.release_id, version__lte=version.version,
                                           requests__category__in=RESTRICTED_CATEGORIES).exists()


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
