"""Trust checks: manifest signatures, the hash chain between versions, shard files."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .errors import ChainError, ExpiredError, RollbackError, UnknownKeyError, VerificationError

MANIFEST_FORMAT = "takedown.blocklist/2"
# Protocol v1 manifests (no delta) are still accepted from a host not yet upgraded.
MANIFEST_FORMATS = ("takedown.blocklist/1", MANIFEST_FORMAT)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def key_id_for(public_key: bytes) -> str:
    """The protocol's key id: first 16 hex characters of the sha256 of the 32 raw key bytes."""
    return sha256_hex(public_key)[:16]


def decode_public_key(value: str) -> bytes:
    """Decode a base64 raw Ed25519 public key, checking it is 32 bytes."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VerificationError(f"public key {value!r} is not valid base64") from exc
    if len(raw) != 32:
        raise VerificationError(f"public key must be 32 raw bytes, got {len(raw)}")
    return raw


def label_of(manifest: Mapping) -> str:
    """``dataset/release vN`` for messages."""
    return f"{manifest.get('dataset')}/{manifest.get('release')} v{manifest.get('version')}"


def verify_manifest(manifest_bytes: bytes, signature_b64: str | bytes, public_keys: Mapping[str, bytes]) -> dict:
    """Check the Ed25519 signature of the exact manifest bytes, then its fields.

    ``public_keys`` maps key ids to raw 32-byte keys. Returns the parsed
    manifest. Raises :class:`UnknownKeyError` when the manifest names a key not
    in ``public_keys``, :class:`VerificationError` for a bad signature or a
    malformed manifest.
    """
    try:
        manifest = json.loads(manifest_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VerificationError(f"manifest is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise VerificationError("manifest is not a JSON object")
    label = label_of(manifest)

    key_id = manifest.get("key_id")
    if key_id not in public_keys:
        trusted = ", ".join(sorted(public_keys)) or "none"
        raise UnknownKeyError(f"{label} manifest is signed with unknown key {key_id} (trusted: {trusted})")
    if isinstance(signature_b64, bytes):
        signature_b64 = signature_b64.decode("ascii", "replace")
    try:
        signature = base64.b64decode(signature_b64.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VerificationError(f"signature of {label} manifest is not valid base64") from exc
    try:
        Ed25519PublicKey.from_public_bytes(public_keys[key_id]).verify(signature, manifest_bytes)
    except (InvalidSignature, ValueError) as exc:
        raise VerificationError(f"signature of {label} manifest does not verify with key {key_id}") from exc

    _check_fields(manifest, label)
    return manifest


def _check_fields(m: dict, label: str) -> None:
    def bad(why: str) -> VerificationError:
        return VerificationError(f"{label} manifest is malformed: {why}")

    if m.get("format") not in MANIFEST_FORMATS:
        raise bad(f"format {m.get('format')!r}, expected {MANIFEST_FORMAT!r}")
    for name in ("dataset", "release", "key_column"):
        if not isinstance(m.get(name), str) or not m[name]:
            raise bad(f"{name} missing")
    for name in ("version", "total_keys"):
        if type(m.get(name)) is not int or m[name] < 0:
            raise bad(f"{name} is not a non-negative integer")
    if m["version"] < 1:
        raise bad("version must be at least 1")
    previous = m.get("previous_manifest_sha256")
    if previous is not None and not (isinstance(previous, str) and _HEX64.match(previous)):
        raise bad("previous_manifest_sha256 is not a sha256")
    shards = m.get("shards")
    if not isinstance(shards, list):
        raise bad("shards is not a list")
    seen: set[str] = set()
    total = 0
    for entry in shards:
        if not isinstance(entry, dict):
            raise bad("a shard entry is not an object")
        for name in ("shard", "file"):
            value = entry.get(name)
            if not isinstance(value, str) or not value or "/" in value or "\\" in value or value.startswith("."):
                raise bad(f"shard entry with bad {name} {entry.get(name)!r}")
        if type(entry.get("count")) is not int or entry["count"] < 0:
            raise bad(f"shard {entry['shard']} has a bad count")
        if not isinstance(entry.get("sha256"), str) or not _HEX64.match(entry["sha256"]):
            raise bad(f"shard {entry['shard']} has a bad sha256")
        if entry["shard"] in seen:
            raise bad(f"shard {entry['shard']} listed twice")
        seen.add(entry["shard"])
        total += entry["count"]
    if total != m["total_keys"]:
        raise bad(f"shard counts add up to {total}, total_keys says {m['total_keys']}")
    if m["format"] == MANIFEST_FORMAT:
        if parse_time(m.get("expires_at")) is None:
            raise bad(f"expires_at {m.get('expires_at')!r} is not a date and time")
        if m.get("delta") is not None:
            _check_delta(m, bad)


def _check_delta(m: dict, bad) -> None:
    delta = m["delta"]
    if not isinstance(delta, dict):
        raise bad("delta is not an object")
    if delta.get("base_version") != m["version"] - 1 or m["version"] < 2:
        raise bad(f"delta base_version {delta.get('base_version')!r} is not the previous version")
    if delta.get("base_manifest_sha256") != m.get("previous_manifest_sha256"):
        raise bad("delta base_manifest_sha256 is not previous_manifest_sha256")
    if not isinstance(delta.get("shards"), list):
        raise bad("delta shards is not a list")
    totals = {"added": 0, "removed": 0}
    seen: set[str] = set()
    for entry in delta["shards"]:
        shard = entry.get("shard") if isinstance(entry, dict) else None
        if not isinstance(shard, str) or not shard or shard in seen:
            raise bad(f"delta shard entry with bad or repeated shard {shard!r}")
        seen.add(shard)
        for side in ("added", "removed"):
            file, count, digest = entry.get(f"{side}_file"), entry.get(f"{side}_count"), entry.get(f"{side}_sha256")
            if type(count) is not int or count < 0:
                raise bad(f"delta shard {shard} has a bad {side}_count")
            if count == 0 and file is None and digest is None:
                continue
            if not (isinstance(file, str) and file and "/" not in file and "\\" not in file
                    and not file.startswith(".")):
                raise bad(f"delta shard {shard} has a bad {side}_file {file!r}")
            if not (isinstance(digest, str) and _HEX64.match(digest)):
                raise bad(f"delta shard {shard} has a bad {side}_sha256")
            totals[side] += count
    for side in ("added", "removed"):
        if delta.get(f"{side}_keys") != totals[side]:
            raise bad(f"delta {side} counts add up to {totals[side]}, {side}_keys says {delta.get(f'{side}_keys')!r}")


def parse_time(value) -> datetime | None:
    """An ISO 8601 time (``Z`` allowed) as an aware datetime; ``None`` if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def check_expiry(manifest: Mapping, now: datetime | None = None) -> None:
    """Refuse a manifest whose ``expires_at`` has passed (:class:`ExpiredError`)."""
    expires = parse_time(manifest.get("expires_at"))
    if expires is not None and expires <= (now or datetime.now(UTC)):
        raise ExpiredError(
            f"{label_of(manifest)} expired at {manifest['expires_at']}; refusing (the host publishes a refreshed "
            f"version before expiry: ask it why there is none)",
            version=manifest.get("version"),
        )


def check_identity(
    manifest: Mapping, dataset: str, release: str, version: int, applied_version: int | None = None
) -> None:
    """Check that a verified manifest is the one asked for, and not a rollback.

    The version inside the signed manifest is what counts: a server replaying an
    old, validly signed manifest under a new version number is refused with
    :class:`RollbackError`.
    """
    if manifest["dataset"] != dataset or manifest["release"] != release:
        raise VerificationError(
            f"manifest served for {dataset}/{release} v{version} is for {manifest['dataset']}/{manifest['release']}",
            version=version,
        )
    if applied_version is not None and manifest["version"] <= applied_version:
        raise RollbackError(
            f"server offered {dataset}/{release} v{manifest['version']} (asked for v{version}), "
            f"not newer than the applied v{applied_version}; refusing rollback",
            version=version,
        )
    if manifest["version"] != version:
        raise VerificationError(
            f"manifest served as {dataset}/{release} v{version} says it is v{manifest['version']}", version=version
        )


def check_chain(chain: Sequence[tuple[Mapping, str]], applied: tuple[int, str] | None = None) -> None:
    """Check the hash chain of consecutive versions.

    ``chain`` holds (manifest, sha256 of its bytes), oldest first. ``applied``
    is (version, manifest sha256) of the version already applied, the anchor the
    first manifest must point to. Without an anchor, a version 1 must have no
    previous manifest. Raises :class:`ChainError` naming both versions.
    """
    previous = applied
    for manifest, digest in chain:
        version = manifest["version"]
        label = f"{manifest['dataset']}/{manifest['release']}"
        claimed = manifest.get("previous_manifest_sha256")
        if previous is None:
            if version == 1 and claimed is not None:
                raise ChainError(f"{label} v1 claims a previous manifest; hash chain broken", version=version)
        else:
            prev_version, prev_digest = previous
            if version != prev_version + 1:
                raise ChainError(
                    f"hash chain of {label} skips from v{prev_version} to v{version}", version=version
                )
            if claimed != prev_digest:
                raise ChainError(
                    f"hash chain broken between {label} v{prev_version} and v{version}: v{version} names previous "
                    f"manifest sha256 {claimed}, v{prev_version}'s is {prev_digest}",
                    version=version,
                )
        previous = (version, digest)


def verify_shard_file(data: bytes, entry: Mapping, label: str = "") -> set[str]:
    """Check one downloaded blocklist shard file against its manifest entry.

    The sha256 of the bytes must match, the file must be a parquet file with a
    single string column ``key`` without nulls, holding ``count`` rows. Returns
    the blocked keys.
    """
    where = f"blocklist file {entry['file']}" + (f" of {label}" if label else "")
    digest = sha256_hex(data)
    if digest != entry["sha256"]:
        raise VerificationError(f"{where}: sha256 {digest} does not match the manifest's {entry['sha256']}")
    try:
        table = pq.read_table(pa.BufferReader(data))
    except pa.ArrowException as exc:
        raise VerificationError(f"{where} is not a readable parquet file: {exc}") from exc
    if table.column_names != ["key"] or not (
        pa.types.is_string(table.schema.field("key").type) or pa.types.is_large_string(table.schema.field("key").type)
    ):
        columns = ", ".join(f"{f.name} ({f.type})" for f in table.schema)
        raise VerificationError(f"{where} must have a single string column 'key', has {columns}")
    if table.num_rows != entry["count"]:
        raise VerificationError(f"{where} holds {table.num_rows} keys, the manifest says {entry['count']}")
    keys = table.column("key")
    if keys.null_count:
        raise VerificationError(f"{where} has empty keys")
    return set(keys.to_pylist())


def rotation_statement(rotation: Mapping) -> bytes:
    """The bytes an old key signs to hand over to a new key."""
    fields = {name: rotation.get(name) for name in ("old_key_id", "new_key_id", "new_public_key", "at")}
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def trust_rotations(trusted: Mapping[str, bytes], rotations: Sequence[Mapping], target: str) -> dict[str, bytes]:
    """Follow rotation statements from the trusted keys to ``target``.

    A statement counts when its signature verifies under its old key, which is
    trusted or reached by an earlier statement, and its new key matches its id.
    Returns the keys reached this way (``key_id -> raw``, ``target`` among
    them), or an empty dict when no chain of statements reaches ``target``.
    """
    known = dict(trusted)
    reached: dict[str, bytes] = {}
    progress = True
    while progress and target not in known:
        progress = False
        for rotation in rotations:
            old, new = rotation.get("old_key_id"), rotation.get("new_key_id")
            if old not in known or new in known or not isinstance(new, str):
                continue
            try:
                raw = decode_public_key(str(rotation.get("new_public_key", "")))
                signature = base64.b64decode(str(rotation.get("signature", "")), validate=True)
                Ed25519PublicKey.from_public_bytes(known[old]).verify(signature, rotation_statement(rotation))
            except (VerificationError, binascii.Error, ValueError, InvalidSignature):
                continue  # a bad statement proves nothing; another may
            if key_id_for(raw) != new:
                continue
            known[new] = reached[new] = raw
            progress = True
    return reached if target in reached else {}


def verify_delta_file(data: bytes, entry: Mapping, side: str, label: str = "") -> set[str]:
    """Check the ``added`` or ``removed`` file of a delta shard entry; returns its keys."""
    return verify_shard_file(data, {"shard": entry["shard"], "file": entry[f"{side}_file"],
                                    "count": entry[f"{side}_count"], "sha256": entry[f"{side}_sha256"]}, label)
