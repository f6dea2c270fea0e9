"""The ``verify`` command: are blocked keys still present in the local shards?

Offline it checks against the applied blocklist kept under ``DIR/.takedown/``
(its manifest's signature checked again); with ``--server`` against the
latest version published, fetched and verified like a sync does.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .apply import blocked_in_parquet, blocked_in_tar, local_shards
from .errors import MirrorClientError, RollbackError, StateError
from .state import STATE_DIR, load_applied_manifest, load_blocklist, load_state
from .sync import Log, Session
from .verify import label_of, verify_manifest


@dataclass
class ShardAudit:
    """Blocked keys one local shard still holds, in its parquet file and in its tar file."""

    shard: str
    blocked: int
    parquet: list[str] = field(default_factory=list)
    tar: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.parquet and not self.tar

    def line(self) -> str:
        """One line for the operator."""
        if self.clean:
            return f"{self.shard}: clean ({self.blocked} blocked {'key' if self.blocked == 1 else 'keys'} absent)"
        present = sorted(set(self.parquet) | set(self.tar))
        parts = [f"parquet {', '.join(self.parquet)}" if self.parquet else "parquet clean",
                 f"tar {', '.join(self.tar)}" if self.tar else "tar clean"]
        return (f"{self.shard}: {len(present)} blocked {'key' if len(present) == 1 else 'keys'} still present: "
                + "; ".join(parts))


@dataclass
class AuditResult:
    """What :func:`audit` found for one blocklist version."""

    label: str
    source: str
    shards: list[ShardAudit]
    not_covered: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return all(s.clean for s in self.shards)

    def summary(self) -> str:
        dirty = [s for s in self.shards if not s.clean]
        keys = sum(len(set(s.parquet) | set(s.tar)) for s in dirty)
        text = f"{self.label} ({self.source}): {len(self.shards)} local shards checked, "
        text += (f"{keys} blocked keys still present in {len(dirty)} shards" if dirty else "clean")
        if self.not_covered:
            text += f"; {len(self.not_covered)} local shards not covered by the kept blocklist (sync again)"
        return text


def audit_shards(data_dir: Path, blocked: Mapping[str, Iterable[str]], key_column: str = "key") -> list[ShardAudit]:
    """Check each listed shard present in ``data_dir`` for its blocked keys."""
    data_dir = Path(data_dir)
    found = []
    for shard in sorted(blocked):
        keys = {str(k) for k in blocked[shard]}
        parquet, tar = data_dir / f"{shard}.parquet", data_dir / f"{shard}.tar"
        if not parquet.exists() and not tar.exists():
            continue
        found.append(ShardAudit(
            shard, len(keys),
            sorted(blocked_in_parquet(parquet, keys, key_column)) if parquet.exists() and keys else [],
            sorted(blocked_in_tar(tar, keys)) if tar.exists() and keys else [],
        ))
    return found


def audit(data_dir: Path, *, server: str | None = None, token: str | None = None, dataset: str | None = None,
          release: str | None = None, public_key: str | None = None, log: Log = lambda line: None) -> AuditResult:
    """Audit ``data_dir`` against its applied blocklist (offline) or, given ``server``, the latest one."""
    data_dir = Path(data_dir)
    if server:
        return _audit_latest(data_dir, server, token, dataset, release, public_key, log)
    if not data_dir.is_dir():
        raise MirrorClientError(f"data folder {data_dir} does not exist")
    state = load_state(data_dir)
    if state is None or not state.applied_version:
        raise StateError(f"{data_dir} has no applied blocklist in {STATE_DIR}/; run sync first, or verify against "
                         f"the server with --server and --token")
    label = f"{state.dataset}/{state.release} v{state.applied_version}"
    kept = load_applied_manifest(data_dir, state.applied_manifest_sha256)
    blocked = load_blocklist(data_dir, state.applied_manifest_sha256)
    if kept is None or blocked is None:
        raise StateError(f"the blocklist of the applied {label} is not kept in {data_dir / STATE_DIR} (synced by an "
                         f"older client?); verify against the server with --server and --token, or sync again")
    trusted = {kid: base64.b64decode(b64) for kid, b64 in state.trusted_keys.items()}
    manifest = verify_manifest(kept[0], kept[1], trusted)
    shards = audit_shards(data_dir, blocked, manifest["key_column"])
    return AuditResult(label_of(manifest), "applied, kept locally", shards,
                       sorted(local_shards(data_dir) - set(blocked)))


def _audit_latest(data_dir, server, token, dataset, release, public_key, log) -> AuditResult:
    session = Session(server, token, dataset, data_dir, release, public_key, log)
    state = session.open()
    releases = {r["release"]: r for r in session.client.releases(session.dataset)}
    latest = releases.get(session.release, {}).get("latest_version")
    if not isinstance(latest, int) or latest < 1:
        raise MirrorClientError(f"{session.label} has no published blocklist")
    applied = state.applied_version
    if applied and latest < applied:
        raise RollbackError(f"server names {session.label} v{latest} as the latest, older than the applied "
                            f"v{applied}; refusing rollback", version=latest)
    manifest, _, _ = session.fetch_manifest(latest, None)
    shards = local_shards(data_dir)
    blocked = session.fetch_lists(manifest, shards)
    return AuditResult(label_of(manifest), "latest on the server",
                       audit_shards(data_dir, blocked, manifest["key_column"]))
