"""The client's memory of a data folder: ``DIR/.takedown-sync.json``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import StateError
from .fsutil import atomic_write

STATE_FILE = ".takedown-sync.json"
STATE_FORMAT = "takedown.mirror-state/1"
HISTORY_LIMIT = 20


@dataclass
class SyncState:
    """What a data folder holds and what the client already did for it."""

    server: str
    dataset: str
    release: str | None = None
    cursor: int = 0
    # key_id -> base64 of the raw Ed25519 key, pinned at the first sync.
    public_keys: dict[str, str] = field(default_factory=dict)
    applied_version: int | None = None
    applied_manifest_sha256: str | None = None
    # Acknowledgements not yet accepted by the server; sent again at the next sync.
    pending_acks: list[dict] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)

    def add_history(self, entry: dict) -> None:
        """Append to the history, keeping only the last entries."""
        self.history.append(entry)
        del self.history[:-HISTORY_LIMIT]


def state_path(data_dir: Path) -> Path:
    """Where the state of ``data_dir`` lives."""
    return Path(data_dir) / STATE_FILE


def load_state(data_dir: Path) -> SyncState | None:
    """Read the state of ``data_dir``; ``None`` before the first sync."""
    path = state_path(data_dir)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"cannot read {path}: {exc}") from exc
    try:
        data = json.loads(raw)
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"unknown format {data.get('format')!r}")
        known = SyncState.__dataclass_fields__
        return SyncState(**{k: v for k, v in data.items() if k in known})
    except (ValueError, TypeError, AttributeError) as exc:
        raise StateError(f"{path} is damaged ({exc}); move it away to start over") from exc


def save_state(data_dir: Path, state: SyncState) -> None:
    """Write the state atomically (temporary file, fsync, rename)."""
    path = state_path(data_dir)
    body = json.dumps({"format": STATE_FORMAT, **asdict(state)}, indent=2, sort_keys=True) + "\n"
    try:
        with atomic_write(path) as f:
            f.write(body.encode())
    except OSError as exc:
        raise StateError(f"cannot write {path}: {exc}") from exc
