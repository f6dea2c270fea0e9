"""Publishing blocklists: versioned, deterministic, signed, shard by shard, each with its delta."""
import hashlib
import hmac
import io
import json
import logging
import math
import shutil
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.blocklists import signing
from apps.blocklists.events import BLOCKLIST_PUBLISHED
from apps.blocklists.models import BlocklistVersion, DecoyKey, DecoyPool
from apps.blocklists.selectors import (
    ADDED,
    MANIFEST,
    REMOVED,
    SIGNATURE,
    Keys,
    blocking_matches,
    blocklist_entry_keys,
    blocklist_manifest_entries,
    blocklist_read,
    keys_by_shard,
    keys_of,
    listed_files,
    release_key_shards,
    storage,
)
from apps.core import faults
from apps.core.actors import Actor
from apps.core.categories import RESTRICTED_CATEGORIES
from apps.core.csvfiles import bad_lines, read_keyed_csv
from apps.core.errors import TakedownError
from apps.core.locks import held
from apps.datasets.models import Release
from apps.events.services import event_record
from apps.matching.models import Match
from apps.removals.models import BLOCKING_STATUSES, RemovalRequest

logger = logging.getLogger(__name__)

FORMAT = "takedown.blocklist/2"
_SCHEMA = pa.schema([pa.field("key", pa.string(), nullable=False)])



@dataclass
class PublishResult:
    version: BlocklistVersion | None
    created: bool


def _iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _sensitive_keys(release: Release) -> Keys:
    """The blocked keys that csam and ncii requests name: the ones decoys must hide."""
    return keys_of(blocking_matches(release).filter(request__category__in=RESTRICTED_CATEGORIES))


def _drawn_decoys(release: Release) -> Keys:
    """Decoys published by earlier versions: they stay blocked for good."""
    rows = DecoyKey.objects.filter(pool__release=release, drawn_in__isnull=False)
    return keys_by_shard(rows.values_list("shard__name", "key").order_by().iterator(chunk_size=10_000))


def _count(keys: Keys) -> int:
    return sum(len(values) for values in keys.values())


def _merge(*parts: Keys) -> Keys:
    merged: Keys = {}
    for part in parts:
        for shard, keys in part.items():
            if keys:
                merged.setdefault(shard, set()).update(keys)
    return merged


def _content_digest(keys: Keys) -> str:
    digest = hashlib.sha256()
    for shard in sorted(keys):
        for key in sorted(keys[shard]):
            digest.update(f"{shard}\t{key}\n".encode())
    return digest.hexdigest()


def _shard_file(keys) -> bytes:
    """A parquet file with one sorted `key` column; equal keys give equal bytes."""
    sink = io.BytesIO()
    table = pa.table({"key": pa.array(sorted(keys), pa.string())}, schema=_SCHEMA)
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Base:
    """The version a delta is taken against: its manifest, and its shard keys read only when needed."""

    def __init__(self, version: BlocklistVersion | None):
        self.version = version
        self.entries: dict[str, dict] = {}
        self._keys: dict[str, set[str]] = {}
        if version is not None:
            self.entries = blocklist_manifest_entries(version=version)

    def unchanged(self, shard: str, data: bytes | None) -> bool:
        """Whether a shard's new file holds the same keys (deterministic bytes: equal digests)."""
        entry = self.entries.get(shard)
        if data is None:
            return entry is None
        return entry is not None and entry["sha256"] == _sha256(data)

    def keys(self, shard: str) -> set[str]:
        entry = self.entries.get(shard)
        if entry is None:
            return set()
        if shard not in self._keys:
            self._keys[shard] = blocklist_entry_keys(version=self.version, entry=entry)
        return self._keys[shard]


def _delta(full: Keys, files: dict[str, bytes], base: _Base) -> tuple[Keys, Keys]:
    """(added, removed) keys by shard against the base; shards whose file is unchanged are not read."""
    added: Keys = {}
    removed: Keys = {}
    for shard in sorted(set(full) | set(base.entries)):
        if base.unchanged(shard, files.get(shard)):
            continue
        now, before = full.get(shard, set()), base.keys(shard)
        if now - before:
            added[shard] = now - before
        if before - now:
            removed[shard] = before - now
    return added, removed


def _decoy_order(release: Release, number: int, key: str) -> bytes:
    # Keyed by a secret: with a public order, decoys would stand out as the keys ranked first.
    message = f"takedown.decoys\n{release.pk}\n{number}\n{key}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).digest()


def _draw_decoys(*, release: Release, number: int, wanted: int, full: Keys, base: _Base) -> list[DecoyKey]:
    """`wanted` undrawn decoys of the release's pool, in a secret but deterministic order, that are
    neither blocked now nor in the base (so each is an added key)."""
    if wanted <= 0:
        return []
    pool = list(DecoyKey.objects.filter(pool__release=release, drawn_in=None).select_related("shard"))
    pool.sort(key=lambda decoy: _decoy_order(release, number, decoy.key))
    chosen = []
    for decoy in pool:
        shard = decoy.shard.name
        if decoy.key in full.get(shard, ()) or decoy.key in base.keys(shard):
            continue
        chosen.append(decoy)
        if len(chosen) == wanted:
            break
    return chosen


def _padding_ratio(release: Release) -> Decimal:
    pool = DecoyPool.objects.filter(release=release).first()
    return pool.padding_ratio if pool is not None else Decimal(0)


def _clear(folder: str) -> None:
    """Remove what a failed earlier attempt at this version left in its folder."""
    store = storage()
    try:
        _, names = store.listdir(folder)
    except FileNotFoundError:
        return
    for name in names:
        store.delete(f"{folder}/{name}")


def _write(path: str, data: bytes) -> None:
    saved = storage().save(path, ContentFile(data))
    if saved != path:
        raise TakedownError(f"blocklists storage saved {path} as {saved}: a file of that name was already there")


def _delta_section(base: BlocklistVersion, added: Keys, removed: Keys, files: dict[str, bytes]) -> dict:
    shards = []
    for shard in sorted(set(added) | set(removed)):
        entry = {"shard": shard}
        for side, keys in ((ADDED, added.get(shard)), (REMOVED, removed.get(shard))):
            name = f"{shard}.{side}.parquet"
            entry.update({f"{side}_file": name if keys else None, f"{side}_count": len(keys) if keys else 0,
                          f"{side}_sha256": _sha256(files[name]) if keys else None})
        shards.append(entry)
    return {
        "base_version": base.version,
        "base_manifest_sha256": base.manifest_sha256,
        "added_keys": _count(added),
        "removed_keys": _count(removed),
        "shards": shards,
    }


def _padding(*, release: Release, number: int, full: Keys, added: Keys, base: _Base) -> tuple[list[DecoyKey], int]:
    """The decoys a version draws for the csam and ncii keys it adds, and how many the pool fell short by."""
    sensitive = _sensitive_keys(release) if added else {}
    exposed = sum(len(keys & sensitive.get(shard, set())) for shard, keys in added.items())
    wanted = math.ceil(_padding_ratio(release) * exposed)
    decoys = _draw_decoys(release=release, number=number, wanted=wanted, full=full, base=base)
    if len(decoys) < wanted:
        logger.warning("%s: decoy pool short by %d keys for version %d", release, wanted - len(decoys), number)
    return decoys, wanted - len(decoys)


def _write_files(*, folder: str, full: Keys, files: dict[str, bytes], added: Keys, removed: Keys,
                 base: BlocklistVersion | None) -> tuple[list[dict], dict | None]:
    """Write a version's shard files and, after a first version, its delta files, into a cleared folder;
    returns the manifest's `shards` and `delta` sections."""
    _clear(folder)
    shards = []
    for shard in sorted(full):
        name = f"{shard}.parquet"
        _write(f"{folder}/{name}", files[shard])
        shards.append({"shard": shard, "file": name, "count": len(full[shard]), "sha256": _sha256(files[shard])})
    if base is None:
        return shards, None
    for side, keys in ((ADDED, added), (REMOVED, removed)):
        for shard, values in keys.items():
            name = f"{shard}.{side}.parquet"
            files[name] = _shard_file(values)
            _write(f"{folder}/{name}", files[name])
    return shards, _delta_section(base, added, removed, files)


def blocklist_publish(*, release: Release, requests: list[RemovalRequest] = (),
                      actor: Actor | None = None, refresh: bool = False) -> PublishResult:
    """Publish a new blocklist version of a release if its blocked keys changed.

    The version carries every blocked key (one parquet per shard) and its delta
    against the version before (per shard, the keys added and removed), plus the
    manifest and its Ed25519 signature. When it adds keys of csam or ncii
    requests and the release has a decoy pool with a padding ratio, it also adds
    ceil(ratio * n) decoys from the pool, which stay blocked from then on. The
    files are written first; the version becomes visible, with its
    blocklist.published event, only when the database row commits, so a failure
    leaves no partial blocklist. With unchanged content the latest version stands and `requests`
    are linked to it, unless `refresh` is set and it expires within
    BLOCKLIST_REFRESH_DAYS: then a new version with the same keys renews it.
    """
    actor = actor or Actor.system()
    # One publisher of a release at a time, holding no write transaction while it computes and writes the
    # files (SQLite would hold every other writer that long); the version row then commits in a short one.
    with held(f"blocklist-publish:{release.pk}"):
        return _publish(release=Release.objects.select_related("dataset").get(pk=release.pk), requests=requests,
                        actor=actor, refresh=refresh)


def _publish(*, release: Release, requests, actor: Actor, refresh: bool) -> PublishResult:
    real = keys_of(blocking_matches(release))
    full = _merge(real, _drawn_decoys(release))
    latest = release.blocklist_versions.order_by("-version").first()
    now = timezone.now().replace(microsecond=0)
    unchanged = latest is not None and latest.content_sha256 == _content_digest(full)
    due = refresh and latest is not None and latest.expires_at <= now + timedelta(
        days=settings.BLOCKLIST_REFRESH_DAYS)
    if unchanged and not due:
        latest.requests.add(*requests)
        return PublishResult(version=latest, created=False)
    if latest is None and not full:
        return PublishResult(version=None, created=False)

    number = latest.version + 1 if latest else 1
    base = _Base(latest)
    files = {shard: _shard_file(keys) for shard, keys in full.items()}
    added, removed = _delta(full, files, base)
    decoys, short = _padding(release=release, number=number, full=full, added=added, base=base)
    padding = keys_by_shard([(d.shard.name, d.key) for d in decoys])
    full, added = _merge(full, padding), _merge(added, padding)
    for shard in padding:
        files[shard] = _shard_file(full[shard])

    expires = now + timedelta(days=settings.BLOCKLIST_MANIFEST_TTL_DAYS)
    folder = f"{release.dataset.name}/{release.name}/v{number:06d}"
    shards, delta = _write_files(folder=folder, full=full, files=files, added=added, removed=removed, base=latest)
    total = _count(full)
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
        "delta": delta,
    }
    manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
    signature = signing.sign(manifest_bytes, expected_key_id=manifest["key_id"])
    _write(f"{folder}/{SIGNATURE}", signature.encode() + b"\n")
    faults.point("blocklists.publish.signed")
    # The manifest last: a folder without one is an attempt that never finished.
    _write(f"{folder}/{MANIFEST}", manifest_bytes)
    faults.point("blocklists.publish.files_written")

    real_count = _count(real)
    with transaction.atomic():
        version = BlocklistVersion.objects.create(
            release=release, version=number, created_at=now, expires_at=expires, key_count=real_count,
            decoy_count=total - real_count, shard_count=len(shards), content_sha256=_content_digest(full),
            manifest_sha256=_sha256(manifest_bytes),
            previous_manifest_sha256=latest.manifest_sha256 if latest else "",
            key_id=manifest["key_id"], path=folder,
            delta_base_version=latest.version if latest else None,
            added_keys=_count(added), removed_keys=_count(removed), decoys_added=len(decoys), refresh=unchanged,
        )
        version.requests.add(*requests)
        DecoyKey.objects.filter(pk__in=[d.pk for d in decoys]).update(drawn_in=version)
        audit_record(actor=actor, action="blocklist.published", obj=version, after={
            "version": number, "keys": real_count, "decoys": version.decoy_count, "shards": len(shards),
            "added": version.added_keys, "removed": version.removed_keys, "decoys_added": len(decoys),
            "decoys_short": short, "refresh": unchanged,
            "manifest_sha256": version.manifest_sha256,
            "requests": [r.tracking_id for r in requests],
        })
        event_record(BLOCKLIST_PUBLISHED, version=version.pk, release=release.pk, dataset=release.dataset.name,
                     release_name=release.name, number=number, keys=real_count, shards=len(shards),
                     added=version.added_keys, removed=version.removed_keys, refresh=unchanged)
    faults.point("blocklists.publish.committed")
    return PublishResult(version=version, created=True)


def blocklist_export(*, version: BlocklistVersion, out_dir: Path) -> list[Path]:
    """Write a published version to a folder: manifest, signature, shard and delta files, each checked.

    The files land in a temporary folder beside `out_dir` that is renamed into
    place at the end, so `out_dir` never holds half an export.
    """
    out_dir = Path(out_dir).expanduser().resolve()
    if out_dir.exists() and any(out_dir.iterdir()):
        raise TakedownError(f"{out_dir}: folder exists and is not empty")
    manifest_bytes = blocklist_read(version=version, name=MANIFEST)
    if _sha256(manifest_bytes) != version.manifest_sha256:
        raise TakedownError(f"{version}: stored manifest does not match its recorded digest")
    files = {MANIFEST: manifest_bytes, SIGNATURE: blocklist_read(version=version, name=SIGNATURE)}
    for name, digest in listed_files(json.loads(manifest_bytes)):
        data = blocklist_read(version=version, name=name)
        if _sha256(data) != digest:
            raise TakedownError(f"{version}: stored file {name} does not match the manifest")
        files[name] = data
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


# ---------------------------------------------------------------- refresh before expiry


def blocklist_refresh(*, release: Release, actor: Actor | None = None) -> PublishResult:
    """Publish the same keys again when a release's latest version expires within BLOCKLIST_REFRESH_DAYS
    (or whatever changed since); otherwise leave it. Safe to run any number of times."""
    return blocklist_publish(release=release, actor=actor, refresh=True)


# ---------------------------------------------------------------- decoy pools


def decoy_pool_configure(*, release: Release, padding_ratio: Decimal, actor: Actor) -> DecoyPool:
    """Create a release's decoy pool or change its padding ratio (decoys per sensitive key, 0 to 100)."""
    try:
        ratio = Decimal(str(padding_ratio).strip())
    except InvalidOperation:
        raise TakedownError(f"padding ratio must be a number from 0 to 100, got {padding_ratio!r}") from None
    if not ratio.is_finite() or not 0 <= ratio <= 100 or ratio != ratio.quantize(Decimal("0.01")):
        raise TakedownError(f"padding ratio must be from 0 to 100 with at most 2 decimals, got {padding_ratio}")
    ratio = ratio.quantize(Decimal("0.01"))
    with transaction.atomic():
        pool, created = DecoyPool.objects.select_for_update().get_or_create(release=release)
        before = {"padding_ratio": str(pool.padding_ratio)}
        pool.padding_ratio = ratio
        pool.save(update_fields=["padding_ratio", "updated_at"])
        audit_record(actor=actor, action="decoy_pool.configured", obj=pool,
                     before=None if created else before, after={"padding_ratio": str(ratio)})
    return pool


@dataclass
class DecoysLoaded:
    pool: DecoyPool
    added: int
    already: int


def decoys_load(*, release: Release, keys: list[tuple[int, str]], actor: Actor, source_name: str = "file",
                padding_ratio: Decimal | None = None) -> DecoysLoaded:
    """Add benign keys (line number, key) to a release's decoy pool, all or nothing.

    Every key must be a sample of the release and must not be blocked by a
    removal request; each bad line is named. Keys already in the pool are kept
    as they are.
    """
    if release.status != Release.Status.READY:
        raise TakedownError(f"{release} is {release.get_status_display().lower()}: decoys need a ready release")
    shards = release_key_shards(release=release, keys=[key for _, key in keys])
    blocked = set(Match.objects.filter(release=release, key__in=list(shards), request__status__in=BLOCKING_STATUSES)
                  .values_list("key", flat=True))
    errors = []
    for line, key in keys:
        if key not in shards:
            errors.append(f"line {line}: key {key!r} is not a sample of {release}")
        elif key in blocked:
            errors.append(f"line {line}: key {key!r} is blocked by a removal request; a decoy must be benign")
    if errors:
        raise bad_lines(source_name, errors, outcome="nothing was loaded")
    with transaction.atomic():
        if padding_ratio is not None:
            pool = decoy_pool_configure(release=release, padding_ratio=padding_ratio, actor=actor)
        else:
            pool, _ = DecoyPool.objects.get_or_create(release=release)
        existing = set(pool.keys.filter(key__in=list(shards)).values_list("key", flat=True))
        shard_ids = dict(release.shards.values_list("name", "id"))
        new = [DecoyKey(pool=pool, key=key, shard_id=shard_ids[shards[key]])
               for _, key in keys if key not in existing]
        DecoyKey.objects.bulk_create(new, batch_size=2000)
        audit_record(actor=actor, action="decoy_pool.loaded", obj=pool, after={
            "source": source_name, "added": len(new), "already": len(existing), "pool_size": pool.keys.count(),
        })
    return DecoysLoaded(pool=pool, added=len(new), already=len(existing))


def _decoy_key(row: dict[str, str]) -> str:
    key = row["key"].strip()
    if not key:
        raise ValueError("no key")
    if len(key) > 256:
        raise ValueError("key is longer than 256 characters")
    return key


def parse_decoys_csv(data: bytes, *, source_name: str = "file") -> list[tuple[int, str]]:
    """(line, key) of a CSV with a `key` column (other columns ignored); repeats kept once, blank lines skipped."""
    keys, seen = [], set()
    for line, key in read_keyed_csv(data, columns=("key",), parse=_decoy_key, source_name=source_name,
                                    outcome="nothing was loaded"):
        if key not in seen:
            seen.add(key)
            keys.append((line, key))
    if not keys:
        raise TakedownError(f"{source_name}: no keys after the header")
    return keys
