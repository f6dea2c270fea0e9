"""The Ed25519 keys that sign blocklist manifests: a keyring with one active key, rotated by signed statement.

The keyring folder (BLOCKLIST_KEYRING_DIR) holds each private key as `<key_id>.pem` (0600) and
`keyring.json`: every key's status and the rotation statements. Every process (web, workers, commands)
reads keyring.json again whenever the file changed, so all of them sign with the key that is active
now; writers replace it atomically under a file lock. docs/signing-keys.md describes it for hosts.
"""
import base64
import binascii
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.actors import Actor
from apps.core.errors import TakedownError
from apps.core.files import write_atomic, write_once
from apps.core.locks import file_lock

KEYRING = "keyring.json"
KEYRING_FORMAT = "takedown.keyring/1"
LEGACY_KEY = "blocklist-ed25519.pem"  # where the key lived before the keyring (under DATA_DIR/keys)
STATEMENT_FIELDS = ("old_key_id", "new_key_id", "new_public_key", "at")


class UnknownKeyError(TakedownError):
    """No chain of valid rotation statements leads from a trusted key to the key asked for."""


@dataclass(frozen=True)
class Keyring:
    folder: Path
    keys: tuple[dict, ...]  # as stored and published: key_id, algorithm, public_key, status, created_at, retired_at
    rotations: tuple[dict, ...]  # signed statements, oldest first
    active_key: Ed25519PrivateKey

    @property
    def active_id(self) -> str:
        return next(k["key_id"] for k in self.keys if k["status"] == "active")


# --- keys and statements ----------------------------------------------------------------------------------------

def raw_public_key(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_for(raw: bytes) -> str:
    """The protocol's key id: first 16 hex characters of the sha256 of the 32 raw public key bytes."""
    return hashlib.sha256(raw).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def rotation_statement_bytes(statement: Mapping) -> bytes:
    """The bytes the old key signs: the four statement fields as compact, key-sorted JSON."""
    return json.dumps({name: statement[name] for name in STATEMENT_FIELDS},
                      sort_keys=True, separators=(",", ":")).encode()


def _statement_key(statement, signer: bytes) -> bytes | None:
    """The new raw key a statement vouches for, if it is well formed and `signer` (raw key) signed it."""
    if not isinstance(statement, Mapping) or not all(isinstance(statement.get(name), str)
                                                     for name in (*STATEMENT_FIELDS, "signature")):
        return None
    try:
        new_raw = base64.b64decode(statement["new_public_key"], validate=True)
        signature = base64.b64decode(statement["signature"], validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(new_raw) != 32 or key_id_for(new_raw) != statement["new_key_id"]:
        return None
    try:
        Ed25519PublicKey.from_public_bytes(signer).verify(signature, rotation_statement_bytes(statement))
    except (InvalidSignature, ValueError):
        return None
    return new_raw


def verify_rotation_chain(*, rotations: Sequence, trusted: Mapping[str, bytes], target_key_id: str) -> dict[str, bytes]:
    """The keys a client may newly trust to reach `target_key_id` from its `trusted` keys (key id -> raw bytes).

    Breadth-first from the trusted keys: a statement is followed from a key already reached when its
    old_key_id is that key, it is well formed, its new_key_id is the key id of its new_public_key and its
    signature verifies under the reached key. Statements that fail any check are skipped. Returns the
    keys of one shortest chain, oldest first, ending with the target ({} when the target is already
    trusted); raises UnknownKeyError naming the key when no chain leads to it. docs/signing-keys.md
    states the same rule for mirror clients.
    """
    if target_key_id in trusted:
        return {}
    reached = dict(trusted)
    came_from: dict[str, str] = {}
    queue = sorted(trusted)
    while queue and target_key_id not in reached:
        current = queue.pop(0)
        for statement in rotations:
            if not isinstance(statement, Mapping) or statement.get("old_key_id") != current:
                continue
            new_id = statement.get("new_key_id")
            if new_id in reached:
                continue
            new_raw = _statement_key(statement, reached[current])
            if new_raw is not None:
                reached[new_id] = new_raw
                came_from[new_id] = current
                queue.append(new_id)
    if target_key_id not in reached:
        raise UnknownKeyError(f"no valid rotation chain leads from the trusted keys "
                              f"({', '.join(sorted(trusted)) or 'none'}) to key {target_key_id}")
    chain = [target_key_id]
    while chain[-1] in came_from:
        chain.append(came_from[chain[-1]])
    return {kid: reached[kid] for kid in reversed(chain) if kid not in trusted}


# --- the keyring on disk ----------------------------------------------------------------------------------------

def _load_pem(data: bytes, where: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{where}: not a PEM private key without password ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"{where}: the key is not an Ed25519 key")
    return key


def _configured_key() -> Ed25519PrivateKey | None:
    """BLOCKLIST_SIGNING_KEY (PEM text or a path to it), or None when unset."""
    configured = settings.BLOCKLIST_SIGNING_KEY
    if not configured:
        return None
    if configured.startswith("-----BEGIN"):
        return _load_pem(configured.encode(), "BLOCKLIST_SIGNING_KEY")
    path = Path(configured).expanduser()
    if not path.is_file():
        raise ImproperlyConfigured(f"BLOCKLIST_SIGNING_KEY: {configured!r} is neither PEM text nor a file")
    return _load_pem(path.read_bytes(), f"BLOCKLIST_SIGNING_KEY file {configured}")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry(key: Ed25519PrivateKey, *, created_at: str) -> dict:
    raw = raw_public_key(key)
    return {"key_id": key_id_for(raw), "algorithm": "ed25519", "public_key": _b64(raw), "status": "active",
            "created_at": created_at, "retired_at": None}


def _folder() -> Path:
    return Path(settings.BLOCKLIST_KEYRING_DIR)


def _make_folder(folder: Path) -> str | None:
    """Create the folder if needed and check a file can be written in it; the problem, or None."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"the keyring folder {folder} (BLOCKLIST_KEYRING_DIR) is not writable: {exc.strerror}"
    return None


def _write_private(folder: Path, key: Ed25519PrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path = folder / f"{key_id_for(raw_public_key(key))}.pem"
    if not write_once(path, pem, mode=0o600) and path.read_bytes() != pem:
        raise ImproperlyConfigured(f"{path} exists and holds another key")


def _write_keyring(folder: Path, keys: list[dict], rotations: list[dict]) -> None:
    """Replace keyring.json atomically: readers see the old file or the new one, never a part."""
    body = json.dumps({"format": KEYRING_FORMAT, "keys": keys, "rotations": rotations}, indent=2) + "\n"
    write_atomic(folder / KEYRING, body.encode(), mode=0o644)  # public keys and statements only


def _initialise(folder: Path) -> None:
    """Create the keyring with its first key: BLOCKLIST_SIGNING_KEY, else the pre-keyring key file, else new."""
    first = _configured_key()  # a bad setting fails before anything is written
    created = timezone.now()
    legacy = Path(settings.DATA_DIR) / "keys" / LEGACY_KEY
    if first is None and legacy.is_file():
        first = _load_pem(legacy.read_bytes(), str(legacy))
        created = datetime.fromtimestamp(legacy.stat().st_mtime, tz=UTC)
    problem = _make_folder(folder)
    if problem:
        raise ImproperlyConfigured(problem)
    with file_lock(folder / ".lock"):  # one writer at a time, across processes and machines sharing it
        if (folder / KEYRING).exists():
            return  # another process created it first: use theirs
        first = first or Ed25519PrivateKey.generate()
        _write_private(folder, first)
        _write_keyring(folder, [_entry(first, created_at=_iso(created))], [])


def _parse(folder: Path, data: bytes) -> Keyring:
    where = folder / KEYRING
    try:
        body = json.loads(data)
        keys, rotations = body["keys"], body["rotations"]
        active = [k["key_id"] for k in keys if k["status"] == "active"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ImproperlyConfigured(f"{where} is not a keyring ({type(exc).__name__}: {exc})") from None
    if len(active) != 1:
        raise ImproperlyConfigured(f"{where} must mark exactly one key active, not {len(active)}")
    pem = folder / f"{active[0]}.pem"
    try:
        key = _load_pem(pem.read_bytes(), str(pem))
    except FileNotFoundError:
        raise ImproperlyConfigured(f"{pem}: the active key's private key file is missing") from None
    if key_id_for(raw_public_key(key)) != active[0]:
        raise ImproperlyConfigured(f"{pem} does not hold key {active[0]}")
    return Keyring(folder=folder, keys=tuple(keys), rotations=tuple(rotations), active_key=key)


def _check_setting(ring: Keyring) -> None:
    configured = _configured_key()
    if configured is None:
        return
    configured_id = key_id_for(raw_public_key(configured))
    if all(k["key_id"] != configured_id for k in ring.keys):
        raise ImproperlyConfigured(
            f"BLOCKLIST_SIGNING_KEY is key {configured_id}, which is not in the keyring at {ring.folder} "
            f"(active key {ring.active_id}): the keyring decides the signing key once it exists; change keys "
            f"with `manage.py rotate_signing_key`, and unset BLOCKLIST_SIGNING_KEY or set it back"
        )


_cached: dict = {}  # "entry": (fingerprint of keyring.json, Keyring parsed from it)


def _open_keyring(folder: Path):
    try:
        return open(folder / KEYRING, "rb")
    except FileNotFoundError:
        _initialise(folder)
        return open(folder / KEYRING, "rb")


def keyring() -> Keyring:
    """The keyring as it is now on disk (created on first use), parsed again whenever keyring.json changed."""
    folder = _folder()
    with _open_keyring(folder) as handle:
        found = os.fstat(handle.fileno())
        # Every write replaces the file, so a new inode (or mtime, size) means new content.
        fingerprint = (str(folder), found.st_ino, found.st_mtime_ns, found.st_size, settings.BLOCKLIST_SIGNING_KEY)
        cached = _cached.get("entry")
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        ring = _parse(folder, handle.read())
    _check_setting(ring)
    _cached["entry"] = (fingerprint, ring)
    return ring


# --- what the rest of the project uses --------------------------------------------------------------------------

def private_key() -> Ed25519PrivateKey:
    """The active key."""
    return keyring().active_key


private_key.cache_clear = _cached.clear  # forget the parsed keyring (the next use reads it again)


def public_key_bytes() -> bytes:
    """The active key's 32 raw public bytes."""
    return raw_public_key(private_key())


def key_id() -> str:
    """The active key's id: first 16 hex characters of the sha256 of the raw public key."""
    return key_id_for(public_key_bytes())


def sign(data: bytes, *, expected_key_id: str | None = None) -> str:
    """Base64 of the Ed25519 signature of `data` by the active key.

    `expected_key_id`: the key id `data` names (a manifest's key_id, read with key_id() a moment
    before). When a rotation happened in between, this raises instead of signing with a key the data
    does not name; the caller's transaction rolls back and a retry uses the new key.
    """
    ring = keyring()
    if expected_key_id is not None and expected_key_id != ring.active_id:
        raise TakedownError(f"the signing key changed from {expected_key_id} to {ring.active_id} while signing "
                            f"(a rotation): try again")
    return _b64(ring.active_key.sign(data))


def public_keys_document() -> dict:
    """What /.well-known/takedown/signing-keys.json serves: the active key first, then retired ones newest first."""
    ring = keyring()
    retired = sorted((k for k in ring.keys if k["status"] != "active"), key=lambda k: k["retired_at"] or "",
                     reverse=True)
    keys = [k for k in ring.keys if k["status"] == "active"] + retired
    fields = ("key_id", "algorithm", "public_key", "status", "created_at", "retired_at")
    return {"keys": [{name: k.get(name) for name in fields} for k in keys],
            "rotations": [{name: r[name] for name in (*STATEMENT_FIELDS, "signature")} for r in ring.rotations]}


def signing_keys_list() -> list[dict]:
    """Every key of the keyring, oldest first, as stored (key_id, algorithm, public_key, status, dates)."""
    return sorted(keyring().keys, key=lambda k: k["created_at"])


def signing_key_rotate(*, actor: Actor, reason: str = "") -> dict:
    """Make a new Ed25519 key the active one and retire the current one; returns the signed rotation statement.

    The old key signs the statement (old and new key ids, the new public key, the time) so mirrors that
    trust it can follow. The new private key is written before keyring.json, which is replaced last, in
    the transaction that records the audit event: a failure leaves the keyring and the audit trail as
    they were (at most an unused key file). Holds the keyring's file lock, so two rotations run one
    after the other, the second retiring the key the first created.
    """
    folder = _folder()
    problem = _make_folder(folder)
    if problem:
        raise TakedownError(f"Cannot rotate the signing key: {problem}. Run the command as the user that "
                            f"owns the keyring (the one the web and worker processes run as).")
    keyring()  # creates the keyring on first use and checks BLOCKLIST_SIGNING_KEY
    with file_lock(folder / ".lock"):  # one writer at a time, across processes and machines sharing it
        # Under the lock: the state another rotation may just have left.
        ring = _parse(folder, (folder / KEYRING).read_bytes())
        old_id, new = ring.active_id, Ed25519PrivateKey.generate()
        now = _iso(timezone.now())
        new_entry = _entry(new, created_at=now)
        statement = {"old_key_id": old_id, "new_key_id": new_entry["key_id"],
                     "new_public_key": new_entry["public_key"], "at": now}
        statement["signature"] = _b64(ring.active_key.sign(rotation_statement_bytes(statement)))
        keys = [{**k, "status": "retired", "retired_at": now} if k["key_id"] == old_id else k for k in ring.keys]
        try:
            _write_private(folder, new)
            with transaction.atomic():
                audit_record(actor=actor, action="signing_key.rotated", obj=None,
                             before={"key_id": old_id},
                             after={"key_id": new_entry["key_id"], "public_key": new_entry["public_key"],
                                    **({"reason": reason} if reason else {})})
                _write_keyring(folder, [*keys, new_entry], [*ring.rotations, statement])
        except OSError as exc:
            raise TakedownError(f"Cannot rotate the signing key: writing to {folder} failed: {exc}") from None
    return statement
