"""What anchors the audit trail outside the database (docs/security.md, "Audit trail").

Whoever can write the database can edit events and recompute their hashes,
or delete the newest events together with the head row. Two things they do
not hold stop that:

- the audit key (AUDIT_KEY, or AUDIT_DIR/audit.key made on first use, 0600):
  every event carries a MAC of its hash under it, and the hash covers every
  event before it, so a rewritten history no longer verifies;
- the checkpoint file (AUDIT_DIR/checkpoints.log): after every commit that
  wrote audit events, a line with the trail's length and head hash, MACed
  with the key, so a database that ends earlier than a checkpoint shows the
  events deleted since.
"""
import functools
import hashlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from apps.core.errors import TakedownError
from apps.core.files import write_once
from apps.core.locks import file_lock

log = logging.getLogger(__name__)

KEY_FILE = "audit.key"
CHECKPOINTS_FILE = "checkpoints.log"
_LINK = b"takedown-audit-link\n"
_CHECKPOINT = b"takedown-audit-checkpoint\n"
# The writer reads back only the end of the file for the last checkpoint: a line is about 250 bytes.
_TAIL_BYTES = 4096


def audit_dir() -> Path:
    return Path(settings.AUDIT_DIR)


def checkpoints_path() -> Path:
    return audit_dir() / CHECKPOINTS_FILE


@functools.lru_cache(maxsize=8)
def _key(configured: str, folder: str) -> bytes:
    if configured:
        return configured.encode()
    path = Path(folder) / KEY_FILE
    try:
        if not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Whole or not at all: processes starting together all read the key that got there first.
            write_once(path, secrets.token_hex(32).encode(), mode=0o600)
        key = path.read_text().strip()
    except OSError as exc:
        raise TakedownError(f"the audit key {path} cannot be read or created ({exc.strerror}): "
                            "check AUDIT_DIR, or set AUDIT_KEY") from None
    if len(key) < 32:
        raise TakedownError(f"the audit key {path} is {len(key)} characters, too short to be the key "
                            "the product made (64): restore it from a backup")
    return key.encode()


def audit_key() -> bytes:
    """The secret the trail's MACs are made with: AUDIT_KEY, else AUDIT_DIR/audit.key (created on first use)."""
    return _key(settings.AUDIT_KEY, str(audit_dir()))


def key_id(key: bytes | None = None) -> str:
    """A short public name of the key, written in checkpoints so a wrong key is told apart from tampering."""
    return hashlib.sha256(key or audit_key()).hexdigest()[:12]


def event_mac(*, event_hash: str, key: bytes | None = None) -> str:
    """The MAC of an event's hash (which covers the event and every one before it) under the audit key."""
    return hmac.new(key or audit_key(), _LINK + event_hash.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """The head of the trail as it stood at `at`: `count` events, the newest `last_id` with hash `head_hash`."""

    at: datetime
    count: int
    last_id: int
    head_hash: str
    key: str

    @property
    def label(self) -> str:
        return f"the checkpoint of {self.at:%Y-%m-%d %H:%M:%S} UTC"

    def _body(self) -> dict:
        return {"at": self.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "count": self.count, "last_id": self.last_id,
                "hash": self.head_hash, "key": self.key}


def _checkpoint_mac(body: dict, key: bytes) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, _CHECKPOINT + canonical, hashlib.sha256).hexdigest()


def _line(checkpoint: Checkpoint, key: bytes) -> bytes:
    body = checkpoint._body()
    return (json.dumps({**body, "mac": _checkpoint_mac(body, key)}, sort_keys=True) + "\n").encode()


def _parse(raw: bytes) -> tuple[Checkpoint, str]:
    """A checkpoint line and the MAC it carries; ValueError when it is not one."""
    data = json.loads(raw)
    at = datetime.strptime(data["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    checkpoint = Checkpoint(at=at, count=int(data["count"]), last_id=int(data["last_id"]),
                            head_hash=str(data["hash"]), key=str(data["key"]))
    return checkpoint, str(data["mac"])


def _last(handle) -> Checkpoint | None:
    """The file's last whole checkpoint; cuts off a line a crash left half-written."""
    size = handle.seek(0, os.SEEK_END)
    handle.seek(max(0, size - _TAIL_BYTES))
    tail = handle.read()
    if tail and not tail.endswith(b"\n"):
        whole = tail.rfind(b"\n") + 1
        handle.truncate(size - (len(tail) - whole))
        tail = tail[:whole]
    lines = tail.splitlines()
    if not lines:
        return None
    try:
        return _parse(lines[-1])[0]
    except (ValueError, KeyError, TypeError):
        log.error("the last line of %s is not a checkpoint; writing the next one after it", handle.name)
        return None


def checkpoint_append(*, count: int, last_id: int, head_hash: str, holds: Callable[[str], bool]) -> bool:
    """Append a checkpoint of a committed head that extends the last one; True when written.

    Processes write after their own commits in any order: under the file's
    lock, a head no longer than the last checkpoint is older news. A head
    that is longer but whose trail no longer `holds` the event the last
    checkpoint ended at (the trail was cut back and written again) is not
    written either: the file keeps the evidence, and verify_audit reports it.
    """
    key = audit_key()
    folder = audit_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with file_lock(folder / f"{CHECKPOINTS_FILE}.lock"):
        fd = os.open(folder / CHECKPOINTS_FILE, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "rb+") as handle:
            last = _last(handle)
            if last is not None and count <= last.count:
                if count < last.count:
                    log.error("the audit trail holds %s events, fewer than the %s of its last checkpoint: events "
                              "were deleted (run manage.py verify_audit)", count, last.count)
                return False
            if last is not None and not holds(last.head_hash):
                log.error("the audit trail no longer holds event %s, the newest of its last checkpoint: it was cut "
                          "back (run manage.py verify_audit); no checkpoint written", last.last_id)
                return False
            checkpoint = Checkpoint(at=datetime.now(UTC), count=count, last_id=last_id, head_hash=head_hash,
                                    key=key_id(key))
            # One write of a short line to a file opened for appending: never interleaved with another's.
            handle.write(_line(checkpoint, key))
            handle.flush()
    return True


def checkpoint_latest() -> Checkpoint | None:
    """The newest checkpoint (None when there is no file yet), every line checked against the audit key.

    A line that does not verify raises TakedownError naming it: the file was
    edited, or this process has another key than the one that wrote it.
    """
    path = checkpoints_path()
    key = audit_key()
    latest = None
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise TakedownError(f"the checkpoint file {path} cannot be read ({exc.strerror})") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.endswith(b"\n"):
                break  # a line a crash left half-written, after the last whole one
            try:
                checkpoint, mac = _parse(raw)
            except (ValueError, KeyError, TypeError):
                raise TakedownError(f"{path} line {number} is not a checkpoint (the file was edited)") from None
            if not hmac.compare_digest(mac, _checkpoint_mac(checkpoint._body(), key)):
                if checkpoint.key != key_id(key):
                    raise TakedownError(
                        f"{path} line {number} was written with audit key {checkpoint.key}, but this process has "
                        f"key {key_id(key)}: check AUDIT_KEY and AUDIT_DIR (or the line was edited)")
                raise TakedownError(f"{path} line {number} does not verify with the audit key (the file was edited)")
            latest = checkpoint
    return latest
