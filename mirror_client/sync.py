"""The ``sync`` command: steps 1 to 6 of docs/mirror-sync.md."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .api import ApiClient
from .apply import ApplyResult, apply_blocklist, shard_present
from .errors import (
    MirrorClientError,
    ReleaseError,
    ServerUnreachable,
    StateError,
    UnknownKeyError,
    VerificationError,
)
from .state import SyncState, load_state, save_state
from .verify import (
    check_chain,
    check_identity,
    decode_public_key,
    key_id_for,
    sha256_hex,
    verify_manifest,
    verify_shard_file,
)

FEED_PAGE_SIZE = 500
PUBLISHED = "blocklist.published"

Log = Callable[[str], None]


@dataclass
class SyncResult:
    """Outcome of one sync: ``status`` is ``applied``, ``up-to-date`` or ``nothing-published``."""

    release: str
    status: str
    applied_version: int | None
    acknowledged: list[int] = field(default_factory=list)
    apply: ApplyResult | None = None


def local_parquet_digests(data_dir: Path) -> dict[str, str]:
    """``shard -> sha256`` of every ``*.parquet`` directly in ``data_dir``."""
    digests = {}
    for path in sorted(Path(data_dir).glob("*.parquet")):
        h = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        digests[path.stem] = h.hexdigest()
    return digests


def match_release(releases: list[dict], local: Mapping[str, str]) -> list[str]:
    """Releases whose shard digests match the local parquet files.

    A release matches when every local parquet named like one of its shards has
    that shard's digest, and at least one does.
    """
    matches = []
    for release in releases:
        shards = [s for s in release.get("shards") or [] if isinstance(s, dict)]
        published = {s.get("shard"): s.get("parquet_sha256") for s in shards}
        common = [shard for shard in local if shard in published]
        if common and all(local[shard] == published[shard] for shard in common):
            matches.append(release["release"])
    return matches


def resolve_release(client: ApiClient, dataset: str, data_dir: Path, explicit: str | None,
                    recorded: str | None) -> tuple[str, str]:
    """Step 1: which release ``data_dir`` holds, and how that was decided."""
    if recorded:
        if explicit and explicit != recorded:
            raise StateError(
                f"{data_dir} was synced as release {recorded}, not {explicit}; "
                f"move {data_dir}/.takedown-sync.json away if the folder now holds {explicit}"
            )
        return recorded, "recorded at an earlier sync"
    releases = client.releases(dataset)
    names = [r["release"] for r in releases]
    if explicit:
        if explicit not in names:
            raise ReleaseError(f"{dataset} has no release {explicit} (releases: {', '.join(names) or 'none'})")
        return explicit, "given with --release"
    if not releases:
        raise ReleaseError(f"{dataset} has no release on the server")
    if len(releases) == 1:
        return names[0], "the dataset's only release"
    local = local_parquet_digests(data_dir)
    matches = match_release(releases, local)
    if len(matches) == 1:
        return matches[0], "matched by the digests of the local parquet files"
    found = f"local parquet files match {', '.join(matches)}" if matches else "no local parquet file matches a release"
    raise ReleaseError(
        f"cannot tell which release of {dataset} {data_dir} holds ({found}); pass --release "
        f"(one of {', '.join(names)})"
    )


def read_feed(client: ApiClient, after: int, page_size: int = FEED_PAGE_SIZE) -> tuple[list[dict], int]:
    """Step 3: every event after cursor ``after``, page by page; returns (events, new cursor)."""
    events: list[dict] = []
    cursor = after
    while True:
        page = client.feed_page(cursor, page_size)
        events.extend(e for e in page["events"] if isinstance(e, dict))
        if page["more"] and page["next"] <= cursor:
            raise MirrorClientError(f"feed says more events wait after {cursor} but its next cursor does not advance")
        cursor = page["next"]
        if not page["more"]:
            return events, cursor


def sync(server: str, token: str, dataset: str, data_dir: Path, *, release: str | None = None,
         public_key: str | None = None, log: Log = lambda line: None,
         client: ApiClient | None = None) -> SyncResult:
    """Bring ``data_dir`` up to date with the newest blocklist of its release.

    Raises :class:`MirrorClientError` on any failure, after acknowledging the
    version concerned as ``failed`` when the server can be reached.
    """
    return _Sync(server, token, dataset, Path(data_dir), release, public_key, log, client).run()


class _Sync:
    def __init__(self, server, token, dataset, data_dir, release, public_key, log, client):
        self.server = server.rstrip("/")
        self.client = client or ApiClient(self.server, token)
        self.dataset = dataset
        self.data_dir = data_dir
        self.explicit_release = release
        self.public_key = public_key
        self.log = log
        self.keys_from_pin = False

    def run(self) -> SyncResult:
        if not self.data_dir.is_dir():
            raise MirrorClientError(f"data folder {self.data_dir} does not exist")
        state = self.state = self._load_state()

        release, how = resolve_release(self.client, self.dataset, self.data_dir, self.explicit_release, state.release)
        state.release = self.release = release
        self.label = f"{self.dataset}/{release}"
        self.log(f"{self.label}: release {how}")

        self.trusted = self._trusted_keys()
        events, cursor = read_feed(self.client, state.cursor)
        mine = [e for e in events
                if e.get("type") == PUBLISHED and e.get("dataset") == self.dataset and e.get("release") == release]
        self.log(f"feed: {len(events)} new {'event' if len(events) == 1 else 'events'} after cursor "
                 f"{state.cursor}, {len(mine)} for {self.label}")

        self.target: int | None = None
        try:
            result = self._bring_up_to_date(mine, cursor)
        except MirrorClientError as exc:
            self._ack_failure(exc)
            raise
        self._send_pending_acks()
        return result

    def _load_state(self) -> SyncState:
        state = load_state(self.data_dir)
        if state is None:
            return SyncState(server=self.server, dataset=self.dataset)
        if state.dataset != self.dataset or state.server.rstrip("/") != self.server:
            raise StateError(
                f"{self.data_dir} is synced with dataset {state.dataset} of {state.server}; "
                f"move its .takedown-sync.json away to sync it with {self.dataset} of {self.server}"
            )
        return state

    def _trusted_keys(self) -> dict[str, bytes]:
        """Step 2: --public-key, else the pinned keys, else pin the well-known ones."""
        state = self.state
        if self.public_key:
            raw = decode_public_key(self.public_key)
            key_id = key_id_for(raw)
            if state.public_keys and key_id not in state.public_keys:
                self.log(f"note: trusting key {key_id} from --public-key instead of pinned "
                         f"{', '.join(sorted(state.public_keys))}")
            state.public_keys = {key_id: base64.b64encode(raw).decode()}
        elif state.public_keys:
            self.keys_from_pin = True
        else:
            keys = self.client.signing_keys()
            if not keys:
                raise VerificationError(f"{self.server} publishes no Ed25519 signing key")
            state.public_keys = {kid: base64.b64encode(raw).decode() for kid, raw in keys.items()}
            self.log(f"pinned signing key {', '.join(sorted(keys))} from {self.server}")
        return {kid: base64.b64decode(b64) for kid, b64 in state.public_keys.items()}

    def _bring_up_to_date(self, events: list[dict], cursor: int) -> SyncResult:
        state = self.state
        announced: dict[int, dict] = {}
        for event in events:
            version = event.get("version")
            if type(version) is not int:
                raise MirrorClientError(f"feed event {event.get('id')} has no version")
            earlier = announced.get(version)
            if earlier and earlier.get("manifest_sha256") != event.get("manifest_sha256"):
                raise VerificationError(
                    f"feed announced {self.label} v{version} twice with different manifest digests", version=version)
            announced[version] = event

        applied = state.applied_version or 0
        replayed = announced.get(applied, {}).get("manifest_sha256")
        if replayed and replayed != state.applied_manifest_sha256:
            raise VerificationError(
                f"feed announces {self.label} v{applied} with manifest sha256 {replayed}, "
                f"but the applied v{applied} had {state.applied_manifest_sha256}; refusing",
                version=applied,
            )
        newest = max(announced, default=None)
        if newest is None or newest <= applied:
            state.cursor = cursor
            save_state(self.data_dir, state)
            if applied:
                self.log(f"{self.label}: up to date (applied version {applied})")
                return SyncResult(self.release, "up-to-date", applied)
            self.log(f"{self.label}: up to date (no blocklist published yet)")
            return SyncResult(self.release, "nothing-published", None)

        self.target = newest
        chain = self._fetch_chain(range(applied + 1 if applied else min(announced), newest + 1), announced)
        manifest, digest = chain[-1]
        result = self._apply(manifest)

        state.cursor = cursor
        state.applied_version = newest
        state.applied_manifest_sha256 = digest
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        state.add_history({"version": newest, "manifest_sha256": digest, "applied_at": now,
                           "samples_removed": result.samples_removed, "shards_rewritten": len(result.shards_rewritten)})
        summary = result.summary()
        for m, _ in chain:
            detail = summary if m["version"] == newest else f"superseded by v{newest}, which was applied: {summary}"
            state.pending_acks.append({"dataset": self.dataset, "release": self.release, "version": m["version"],
                                       "status": "applied", "detail": detail})
        # State before acknowledgement: a lost ack is resent, a lost state would re-fetch everything.
        save_state(self.data_dir, state)
        self.log(f"applied {self.label} v{newest}: {summary}")
        return SyncResult(self.release, "applied", newest, [m["version"] for m, _ in chain], result)

    def _fetch_chain(self, versions: range, announced: dict[int, dict]) -> list[tuple[dict, str]]:
        """Step 4: fetch and verify each manifest, then the hash chain across them."""
        state = self.state
        applied = state.applied_version
        chain = []
        for version in versions:
            try:
                raw = self.client.manifest(self.dataset, self.release, version)
                signature = self.client.signature(self.dataset, self.release, version)
                manifest = self._verify(raw, signature, version)
                check_identity(manifest, self.dataset, self.release, version, applied)
                digest = sha256_hex(raw)
                expected = announced.get(version, {}).get("manifest_sha256")
                if expected and expected != digest:
                    raise VerificationError(
                        f"{self.label} v{version} manifest has sha256 {digest}, the feed announced {expected}")
            except MirrorClientError as exc:
                exc.version = exc.version or version
                raise
            chain.append((manifest, digest))
        anchor = (applied, state.applied_manifest_sha256) if applied else None
        check_chain(chain, anchor)
        first, last = chain[0][0]["version"], chain[-1][0]["version"]
        span = f"v{first}" if first == last else f"v{first}..v{last}"
        self.log(f"verified {self.label} {span}: signatures by key {chain[-1][0]['key_id']}"
                 + (", hash chain intact" if anchor or len(chain) > 1 else ""))
        return chain

    def _verify(self, raw: bytes, signature: str, version: int) -> dict:
        try:
            return verify_manifest(raw, signature, self.trusted)
        except UnknownKeyError as exc:
            if not self.keys_from_pin:
                raise
            # Tell a rotated host key apart from a manifest signed with a stranger's key.
            try:
                published = self.client.signing_keys()
            except MirrorClientError:
                raise exc from None
            key_id = _key_id_in(raw)
            if key_id in published:
                raise VerificationError(
                    f"host signing key changed: {self.label} v{version} is signed with key {key_id}, pinned key is "
                    f"{', '.join(sorted(self.trusted))}; refusing (if the host rotated its key, check the new key "
                    f"out of band and pass it with --public-key)",
                    version=version,
                ) from None
            raise

    def _apply(self, manifest: dict) -> ApplyResult:
        """Step 5: download and check the shard files, then rewrite the local shards."""
        version = manifest["version"]
        label = f"{self.label} v{version}"
        expires = _parse_time(manifest.get("expires_at"))
        if expires and expires < datetime.now(UTC):
            self.log(f"warning: {label} expired at {manifest['expires_at']}; applying it anyway")
        entries = manifest["shards"]
        present = [e for e in entries if shard_present(self.data_dir, e["shard"])]
        missing = sorted({e["shard"] for e in entries} - {e["shard"] for e in present})
        blocked = {}
        for entry in present:
            data = self.client.blocklist_file(self.dataset, self.release, version, entry["file"])
            blocked[entry["shard"]] = verify_shard_file(data, entry, label)
        self.log(f"applying {label}: {manifest['total_keys']} blocked keys in {len(entries)} shards, "
                 f"{len(present)} present locally")
        result = apply_blocklist(self.data_dir, blocked, key_column=manifest["key_column"])
        result.shards_missing = sorted(set(result.shards_missing) | set(missing))
        return result

    def _send_pending_acks(self) -> None:
        state = self.state
        if not state.pending_acks:
            return
        sent = []
        try:
            for ack in list(state.pending_acks):
                self.client.ack(ack["dataset"], ack["release"], ack["version"], ack["status"], ack["detail"])
                state.pending_acks.remove(ack)
                sent.append(ack["version"])
        except MirrorClientError as exc:
            save_state(self.data_dir, state)
            raise MirrorClientError(
                f"could not acknowledge {self.label} v{ack['version']} ({exc}); it will be sent again at the next sync"
            ) from None
        save_state(self.data_dir, state)
        self.log(f"acknowledged {self.label} " + ", ".join(f"v{v}" for v in sent))

    def _ack_failure(self, exc: MirrorClientError) -> None:
        if isinstance(exc, ServerUnreachable):
            return
        for version in sorted({v for v in (exc.version, self.target) if v}):
            try:
                self.client.ack(self.dataset, self.release, version, "failed", str(exc))
            except MirrorClientError:
                pass  # the error being reported matters more than its acknowledgement


def _key_id_in(raw: bytes) -> str | None:
    try:
        return json.loads(raw).get("key_id")
    except (ValueError, AttributeError):
        return None


def _parse_time(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
