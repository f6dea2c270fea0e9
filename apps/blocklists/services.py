"""Publishing blocklists: versioned, deterministic, signed, shard by shard."""
import hashlib
import io
import json
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from apps.audit.services import audit_record
from apps.blocklists import signing
from apps.blocklists.models import BlocklistVersion
from apps.core.actors import Actor
from apps.core.errors import TakedownError
from apps.datasets.models import Release
from apps.matching.models import AllowListEntry, Match
from apps.mirrors.services import feed_event_publish
from apps.removals.models import BLOCKING_STATUSES, RemovalRequest

FORMAT = "takedown.blocklist/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
_SCHEMA = pa.schema([pa.field("key", pa.string(), nullable=False)])


@dataclass
class PublishResult:
    version: BlocklistVersion | None
    created: bool


def storage():
    return storages["blocklists"]


def _iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def blocked_keys(release: Release) -> dict[str, list[str]]:
    """The keys every approved request blocks in a release, by shard name, sorted; allow-listed
    samples and matches of allow-listed identifiers are left out."""
    allowed = AllowListEntry.objects.filter(revoked_at=None)
    rows = (
        Match.objects.filter(release=release, request__status__in=BLOCKING_STATUSES)
        .exclude(key__in=allowed.filter(scope=AllowListEntry.Scope.SAMPLE, release=release).values("key"))
        .exclude(Exists(allowed.filter(scope=AllowListEntry.Scope.IDENTIFIER, kind=OuterRef("identifier__kind"),
                                       value=OuterRef("identifier__value"))))
        .values_list("shard__name", "key")
        .distinct()
        .order_by("shard__name", "key")
    )
    by_shard: dict[str, list[str]] = {}
    for shard, key in rows.iterator(chunk_size=10_000):
        by_shard.setdefault(shard, []).append(key)
    return by_shard


def _content_digest(by_shard: dict[str, list[str]]) -> str:
    digest = hashlib.sha256()
    for shard, keys in by_shard.items():
        for key in keys:
            digest.update(f"{shard}\t{key}\n".encode())
    return digest.hexdigest()


def _shard_file(keys: list[str]) -> bytes:
    """A parquet file with one sorted `key` column; equal keys give equal bytes."""
    sink = io.BytesIO()
    pq.write_table(pa.table({"key": pa.array(keys, pa.string())}, schema=_SCHEMA), sink, compression="zstd")
    return sink.getvalue()


def _write(path: str, data: bytes) -> None:
    store = storage()
    # A crashed earlier attempt at this same version may have left a file here.
    if store.exists(path):
        store.delete(path)
    store.save(path, ContentFile(data))


def blocklist_publish(*, release: Release, requests: list[RemovalRequest] = (),
                      actor: Actor | None = None) -> PublishResult:
    """Publish a new blocklist version of a release if its blocked keys changed.

    The files (one parquet per shard with blocked keys, the manifest and its
    Ed25519 signature) are written first; the version becomes visible, with its
    feed event, only when the database row commits, so a failure leaves no
    partial blocklist. With unchanged content the latest version stands and
    `requests` are linked to it.
    """
    actor = actor or Actor.system()
    with transaction.atomic():
        release = Release.objects.select_for_update().select_related("dataset").get(pk=release.pk)
        by_shard = blocked_keys(release)
        content = _content_digest(by_shard)
        latest = release.blocklist_versions.order_by("-version").first()
        if latest is not None and latest.content_sha256 == content:
            latest.requests.add(*requests)
            return PublishResult(version=latest, created=False)
        if latest is None and not by_shard:
            return PublishResult(version=None, created=False)

        number = latest.version + 1 if latest else 1
        now = timezone.now().replace(microsecond=0)
        expires = now + timedelta(days=settings.BLOCKLIST_MANIFEST_TTL_DAYS)
        folder = f"{release.dataset.name}/{release.name}/v{number:06d}"
        shards = []
        for shard, keys in by_shard.items():
            data = _shard_file(keys)
            name = f"{shard}.parquet"
            _write(f"{folder}/{name}", data)
            shards.append({"shard": shard, "file": name, "count": len(keys),
                           "sha256": hashlib.sha256(data).hexdigest()})
        total = sum(len(keys) for keys in by_shard.values())
        manifest = {
            "format": FORMAT,
            "dataset": release.dataset.name,
            "release": release.name,
            "version": number,
            "created_at": _iso(now),
            "expires_at": _iso(expires),
            "previous_manifest_sha256": latest.manifest_sha256 if latest else None,
            "key_id": signing.key_id(),
            "key_column": "key",
            "total_keys": total,
            "shards": shards,
        }
        manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
        _write(f"{folder}/{SIGNATURE}", signing.sign(manifest_bytes).encode() + b"\n")
        # The manifest last: a folder without one is an attempt that never finished.
        _write(f"{folder}/{MANIFEST}", manifest_bytes)

        version = BlocklistVersion.objects.create(
            release=release, version=number, created_at=now, expires_at=expires, key_count=total,
            shard_count=len(shards), content_sha256=content,
            manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
            previous_manifest_sha256=latest.manifest_sha256 if latest else "",
            key_id=manifest["key_id"], path=folder,
        )
        version.requests.add(*requests)
        feed_event_publish(blocklist=version)
        audit_record(actor=actor, action="blocklist.published", obj=version, after={
            "version": number, "keys": total, "shards": len(shards),
            "manifest_sha256": version.manifest_sha256,
            "requests": [r.tracking_id for r in requests],
        })
    return PublishResult(version=version, created=True)


def blocklist_read(*, version: BlocklistVersion, name: str) -> bytes:
    """The bytes of one file of a published version: the manifest, its signature or a shard file."""
    path = f"{version.path}/{name}"
    try:
        with storage().open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise TakedownError(f"{version}: no file {name!r}") from None


def blocklist_files(*, version: BlocklistVersion) -> list[str]:
    """Names of the shard files of a version, from its manifest."""
    manifest = json.loads(blocklist_read(version=version, name=MANIFEST))
    return [entry["file"] for entry in manifest["shards"]]


def blocklist_export(*, version: BlocklistVersion, out_dir: Path) -> list[Path]:
    """Write a published version to a folder: manifest, signature and shard files, each checked.

    The files land in a temporary folder beside `out_dir` that is renamed into
    place at the end, so `out_dir` never holds half an export.
    """
    out_dir = Path(out_dir).expanduser().resolve()
    if out_dir.exists() and any(out_dir.iterdir()):
        raise TakedownError(f"{out_dir}: folder exists and is not empty")
    manifest_bytes = blocklist_read(version=version, name=MANIFEST)
    if hashlib.sha256(manifest_bytes).hexdigest() != version.manifest_sha256:
        raise TakedownError(f"{version}: stored manifest does not match its recorded digest")
    manifest = json.loads(manifest_bytes)
    files = {MANIFEST: manifest_bytes, SIGNATURE: blocklist_read(version=version, name=SIGNATURE)}
    for entry in manifest["shards"]:
        data = blocklist_read(version=version, name=entry["file"])
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise TakedownError(f"{version}: stored file {entry['file']} does not match the manifest")
        files[entry["file"]] = data
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for name, data in files.items():
        (staging / name).write_bytes(data)
    if out_dir.exists():
        out_dir.rmdir()
    staging.rename(out_dir)
    return [out_dir / name for name in files]
