"""The client's memory of a data folder, under ``DIR/.takedown/``.

- ``state.json``: server, dataset, release, feed cursor, trusted keys, applied
  version and its manifest sha256, acknowledgements not yet taken, history.
- ``manifest.json`` and ``manifest.json.sig``: the applied manifest, byte for byte.
- ``blocklist.parquet``: the applied blocked keys of the local shards (columns
  ``shard``, ``key``), so deltas and ``verify`` work without the server.
- ``unblocked.json``: keys un-blocked by the host since they were removed here,
  so the operator can restore them from the source.

``state.json`` is written last: it is the commit point of a sync. The other
files name the manifest they belong to and are ignored when it is not the one
``state.json`` says was applied.

Version 1 of the client kept one file, ``DIR/.takedown-sync.json``; it is read
and moved into ``DIR/.takedown/`` on first use.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import StateError
from .fsutil import atomic_write, fsync_folder

STATE_DIR = ".takedown"
STATE_FILE = "state.json"
STATE_FORMAT = "takedown.mirror-state/2"
LEGACY_STATE_FILE = ".takedown-sync.json"
LEGACY_STATE_FORMAT = "takedown.mirror-state/1"
MANIFEST_FILE = "manifest.json"
SIGNATURE_FILE = "manifest.json.sig"
BLOCKLIST_FILE = "blocklist.parquet"
UNBLOCKED_FILE = "unblocked.json"
UNBLOCKED_FORMAT = "takedown.mirror-unblocked/1"
HISTORY_LIMIT = 20


@dataclass
class SyncState:
    """What a data folder holds and what the client already did for it."""

    server: str
    dataset: str
    release: str | None = None
    cursor: int = 0
    # key_id -> base64 of the raw Ed25519 key: pinned at the first sync, grown by verified rotations.
    trusted_keys: dict[str, str] = field(default_factory=dict)
    applied_version: int | None = None
    applied_manifest_sha256: str | None = None
    # Acknowledgements not yet accepted by the server; sent again at the next sync.
    pending_acks: list[dict] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    # The ETag of the last feed read when it found nothing new: {"cursor": int, "etag": str}.
    feed_etag: dict | None = None

    def add_history(self, entry: dict) -> None:
        """Append to the history, keeping only the last entries."""
        self.history.append(entry)
        del self.history[:-HISTORY_LIMIT]


def state_dir(data_dir: Path) -> Path:
    """``DIR/.takedown``, where the client keeps its files."""
    return Path(data_dir) / STATE_DIR


def state_path(data_dir: Path) -> Path:
    """Where the state of ``data_dir`` lives."""
    return state_dir(data_dir) / STATE_FILE


def _write(path: Path, data: bytes, *, sync_folder: bool = False) -> None:
    # The files beside state.json are made durable by the folder sync before state.json is written.
    try:
        path.parent.mkdir(exist_ok=True)
        with atomic_write(path, sync_folder=sync_folder) as f:
            f.write(data)
    except OSError as exc:
        raise StateError(f"cannot write {path}: {exc}") from exc


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"cannot read {path}: {exc}") from exc


def _parse(path: Path, raw: bytes, expected_format: str) -> dict:
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("format") != expected_format:
            raise ValueError(f"unknown format {data.get('format') if isinstance(data, dict) else None!r}")
        return data
    except (ValueError, UnicodeDecodeError) as exc:
        raise StateError(f"{path} is damaged ({exc}); move it away to start over") from exc


def _state_from(path: Path, data: dict) -> SyncState:
    known = SyncState.__dataclass_fields__
    try:
        return SyncState(**{k: v for k, v in data.items() if k in known})
    except TypeError as exc:
        raise StateError(f"{path} is damaged ({exc}); move it away to start over") from exc


def load_state(data_dir: Path) -> SyncState | None:
    """Read the state of ``data_dir``; ``None`` before the first sync.

    A version 1 state file (``DIR/.takedown-sync.json``) is migrated: written
    as ``DIR/.takedown/state.json``, then removed.
    """
    path = state_path(data_dir)
    raw = _read(path)
    if raw is not None:
        return _state_from(path, _parse(path, raw, STATE_FORMAT))
    legacy = Path(data_dir) / LEGACY_STATE_FILE
    raw = _read(legacy)
    if raw is None:
        return None
    data = _parse(legacy, raw, LEGACY_STATE_FORMAT)
    data["trusted_keys"] = data.pop("public_keys", None) or {}
    state = _state_from(legacy, data)
    save_state(data_dir, state)
    legacy.unlink()
    return state


def save_state(data_dir: Path, state: SyncState, *, commit: bool = True) -> None:
    """Write the state atomically (temporary file, fsync, rename).

    ``commit``: the files written beside it since (manifest, blocklist, un-blocked keys) are made durable
    first, and the state's own rename after. ``commit=False`` is for a change that may be lost in a crash
    without harm (acknowledgements taken: the next sync would only send them again).
    """
    body = json.dumps({"format": STATE_FORMAT, **{f.name: getattr(state, f.name) for f in fields(state)}},
                      indent=2, sort_keys=True) + "\n"
    path = state_path(data_dir)
    if commit and path.parent.is_dir():
        fsync_folder(path.parent)
    _write(path, body.encode(), sync_folder=commit)


# -- the applied manifest ----------------------------------------------------------------


def save_applied_manifest(data_dir: Path, raw: bytes, signature: str) -> None:
    """Keep the exact bytes and the signature of the manifest being applied."""
    _write(state_dir(data_dir) / MANIFEST_FILE, raw)
    _write(state_dir(data_dir) / SIGNATURE_FILE, signature.strip().encode() + b"\n")


def load_applied_manifest(data_dir: Path, sha256: str | None) -> tuple[bytes, str] | None:
    """(manifest bytes, signature) of the applied manifest, if kept and its sha256 is ``sha256``."""
    if not sha256:
        return None
    raw = _read(state_dir(data_dir) / MANIFEST_FILE)
    signature = _read(state_dir(data_dir) / SIGNATURE_FILE)
    if raw is None or signature is None or hashlib.sha256(raw).hexdigest() != sha256:
        return None
    return raw, signature.decode("ascii", "replace").strip()


# -- the applied blocked keys ------------------------------------------------------------


def save_blocklist(data_dir: Path, manifest_sha256: str, blocked: Mapping[str, Iterable[str]]) -> None:
    """Keep the blocked keys of the applied manifest, per shard."""
    rows = sorted((shard, key) for shard, keys in blocked.items() for key in keys)
    table = pa.table({"shard": pa.array([r[0] for r in rows], pa.string()),
                      "key": pa.array([r[1] for r in rows], pa.string())})
    table = table.replace_schema_metadata({b"manifest_sha256": manifest_sha256.encode(),
                                           b"shards": json.dumps(sorted(blocked)).encode()})
    path = state_dir(data_dir) / BLOCKLIST_FILE
    try:
        path.parent.mkdir(exist_ok=True)
        with atomic_write(path, sync_folder=False) as f:  # made durable with the state (save_state)
            pq.write_table(table, f, compression="zstd")
    except OSError as exc:
        raise StateError(f"cannot write {path}: {exc}") from exc


def load_blocklist(data_dir: Path, manifest_sha256: str | None) -> dict[str, set[str]] | None:
    """The kept blocked keys (shard -> keys) if they belong to ``manifest_sha256``, else ``None``.

    Every shard the keys were kept for is in the answer, with an empty set when
    none of its keys is blocked.
    """
    path = state_dir(data_dir) / BLOCKLIST_FILE
    if not manifest_sha256 or not path.exists():
        return None
    try:
        table = pq.read_table(path)
        meta = table.schema.metadata or {}
        if meta.get(b"manifest_sha256", b"").decode() != manifest_sha256:
            return None
        blocked: dict[str, set[str]] = {shard: set() for shard in json.loads(meta[b"shards"])}
    except (pa.ArrowException, OSError, KeyError, ValueError):
        return None  # damaged or foreign: the sync fetches the lists again
    for shard, key in zip(table.column("shard").to_pylist(), table.column("key").to_pylist()):
        blocked.setdefault(shard, set()).add(key)
    return blocked


# -- un-blocked keys ---------------------------------------------------------------------


def load_unblocked(data_dir: Path) -> dict:
    """``unblocked.json`` as a dict (empty shards when there is none)."""
    path = state_dir(data_dir) / UNBLOCKED_FILE
    raw = _read(path)
    if raw is None:
        return {"format": UNBLOCKED_FORMAT, "shards": {}}
    return _parse(path, raw, UNBLOCKED_FORMAT)


def record_unblocked(data_dir: Path, *, dataset: str, release: str, version: int,
                     unblocked: Mapping[str, Iterable[str]], reblocked: Mapping[str, Iterable[str]]) -> int:
    """Add keys the host un-blocked in ``version`` to ``unblocked.json``; drop keys blocked again.

    The file maps shard -> key -> the version that un-blocked it: samples the
    operator may restore from the source. Returns how many keys ``version`` un-blocked.
    """
    doc = load_unblocked(data_dir)
    shards: dict[str, dict[str, int]] = doc.setdefault("shards", {})
    count = 0
    for shard, keys in unblocked.items():
        for key in keys:
            shards.setdefault(shard, {})[key] = version
            count += 1
    for shard, keys in reblocked.items():
        for key in keys:
            shards.get(shard, {}).pop(key, None)
    doc.update(dataset=dataset, release=release, shards={s: dict(sorted(k.items()))
                                                         for s, k in sorted(shards.items()) if k})
    if count or (state_dir(data_dir) / UNBLOCKED_FILE).exists():
        _write(state_dir(data_dir) / UNBLOCKED_FILE, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())
    return count
