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
from .apply import ApplyResult, apply_blocklist, local_shards
from .errors import (
    MirrorClientError,
    ReleaseError,
    RollbackError,
    ServerUnreachable,
    StateError,
    UnknownKeyError,
    VerificationError,
)
from .events import PUBLISHED, feed_event_problem, published_problem
from .fsutil import folder_lock
from .state import (
    STATE_DIR,
    UNBLOCKED_FILE,
    SyncState,
    load_applied_manifest,
    load_blocklist,
    load_state,
    record_unblocked,
    save_applied_manifest,
    save_blocklist,
    save_state,
)
from .verify import (
    check_chain,
    check_expiry,
    check_identity,
    decode_public_key,
    key_id_for,
    sha256_hex,
    trust_rotations,
    verify_delta_file,
    verify_manifest,
    verify_shard_file,
)

# In STATE_DIR: syncs of one folder take turns.
LOCK_FILE = "sync.lock"

FEED_PAGE_SIZE = 500
# Beyond this many versions, only the newest manifest is fetched (no hash chain from the applied one).
MAX_CHAIN = 50

Log = Callable[[str], None]


@dataclass
class SyncResult:
    """Outcome of one sync: ``status`` is ``applied``, ``up-to-date`` or ``nothing-published``."""

    release: str
    status: str
    applied_version: int | None
    acknowledged: list[int] = field(default_factory=list)
    apply: ApplyResult | None = None
    mode: str | None = None  # "delta" or "full" when a version was applied
    unblocked: int = 0


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
                f"move {data_dir}/.takedown away if the folder now holds {explicit}"
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


@dataclass
class FeedRead:
    """Every event after the cursor, the new cursor, and the host's resync list when the cursor was too old.

    ``etag``: the ETag of the last page read, when it was the only page and empty (nothing new after the
    cursor): the next read of the same cursor sends it, and a host with nothing new answers 304.
    """

    events: list[dict]
    cursor: int
    resync: list[dict] | None = None
    resync_detail: str = ""
    etag: str | None = None
    not_modified: bool = False  # the host answered 304 to the etag


def read_feed(client: ApiClient, after: int, page_size: int = FEED_PAGE_SIZE, etag: str | None = None) -> FeedRead:
    """Step 3: every event after cursor ``after``, page by page.

    When the host has pruned events past ``after`` it answers 410 with the
    latest version of each subscribed release and a cursor to go on from: those
    events are in ``resync`` and reading goes on from that cursor. ``etag``: of
    an earlier empty read of the same cursor (see :class:`FeedRead`).

    A malformed event (feed_event_problem) fails the read: the cursor must not
    move past an event the client could not judge, or a version it announces
    would never be applied.
    """
    read = FeedRead([], after)
    while True:
        page = client.feed_page(read.cursor, page_size, etag if read.cursor == after else None)
        if page.get("not_modified"):
            read.etag, read.not_modified = etag, True
            return read
        if page.get("resync"):
            if read.resync is not None:
                raise MirrorClientError(f"feed asked for a resync again at cursor {read.cursor}")
            read.resync = _sound_events(page["latest"], f"the feed's resync answer to cursor {read.cursor}")
            read.resync_detail = page["detail"]
            read.cursor = page["cursor"]
            continue
        read.events.extend(_sound_events(page["events"], f"the feed after cursor {read.cursor}"))
        if page["more"] and page["next"] <= read.cursor:
            raise MirrorClientError(
                f"feed says more events wait after {read.cursor} but its next cursor does not advance")
        read.cursor = page["next"]
        if not page["more"]:
            if not read.events and read.resync is None and read.cursor == after:
                read.etag = page.get("etag")
            return read


def _sound_events(events: list, where: str) -> list[dict]:
    for position, event in enumerate(events, 1):
        problem = feed_event_problem(event)
        if problem:
            name = f"event {event['id']}" if isinstance(event, dict) and type(event.get("id")) is int else \
                f"event number {position}"
            raise MirrorClientError(f"{name} of {where} is malformed: {problem}; not reading past it (the cursor "
                                    f"stays where it was, so the next sync reads it again once the host fixes it)")
    return events


def sync(server: str, token: str, dataset: str, data_dir: Path, *, release: str | None = None,
         public_key: str | None = None, log: Log = lambda line: None,
         client: ApiClient | None = None, announced: dict | None = None, trust_key: str | None = None) -> SyncResult:
    """Bring ``data_dir`` up to date with the newest blocklist of its release.

    Syncs of the same folder run one at a time (a lock in ``.takedown/``): a cron
    ``sync`` and ``receive`` can share a folder.

    ``announced``: a ``blocklist.published`` event as a webhook delivered it. When
    it is the version right after the applied one, the feed is not read (the
    manifest's signature and hash chain are checked all the same, and the next
    full sync moves the cursor on); otherwise it is ignored.

    ``trust_key``: the key id or sha256 fingerprint of the signing key expected
    (see :meth:`Session._trusted_keys`).

    Raises :class:`MirrorClientError` on any failure, after acknowledging the
    version concerned as ``failed`` when the server can be reached.
    """
    data_dir = Path(data_dir)
    run = _Sync(server, token, dataset, data_dir, release, public_key, log, client, trust_key=trust_key).run
    if not data_dir.is_dir():  # said by the sync itself, without making a lock folder in a wrong place
        return run(announced)
    try:
        with folder_lock(data_dir / STATE_DIR / LOCK_FILE):
            return run(announced)
    except TimeoutError as exc:
        raise MirrorClientError(f"{data_dir}: {exc}; is a sync stuck?") from None


class Session:
    """A data folder, its state and the host: trusted keys and verified manifests.

    Shared by ``sync`` and ``verify``.
    """

    def __init__(self, server, token, dataset, data_dir, release, public_key, log, client=None, trust_key=None):
        self.server = server.rstrip("/")
        self.client = client or ApiClient(self.server, token)
        self.dataset = dataset
        self.data_dir = Path(data_dir)
        self.explicit_release = release
        self.public_key = public_key
        self.trust_key = trust_key
        self.log = log

    def open(self) -> SyncState:
        """Load (or start) the state, find the release, settle the trusted keys."""
        if not self.data_dir.is_dir():
            raise MirrorClientError(f"data folder {self.data_dir} does not exist")
        state = self.state = self._load_state()
        release, how = resolve_release(self.client, self.dataset, self.data_dir, self.explicit_release, state.release)
        state.release = self.release = release
        self.label = f"{self.dataset}/{release}"
        self.log(f"{self.label}: release {how}")
        self.trusted = self._trusted_keys()
        return state

    def _load_state(self) -> SyncState:
        state = load_state(self.data_dir)
        if state is None:
            return SyncState(server=self.server, dataset=self.dataset)
        if state.dataset != self.dataset or state.server.rstrip("/") != self.server:
            raise StateError(
                f"{self.data_dir} is synced with dataset {state.dataset} of {state.server}; "
                f"move its {STATE_DIR} folder away to sync it with {self.dataset} of {self.server}"
            )
        return state

    def _trusted_keys(self) -> dict[str, bytes]:
        """Step 2: --public-key, else the trusted keys in the state, else pin the host's active key.

        Pinning the host's key at the first sync trusts whatever the host lists
        then (trust on first use). With ``trust_key`` (--trust-key) the key must
        be the expected one: the listed, pinned or given key must match it, or
        the sync stops before anything is saved.
        """
        state = self.state
        if self.public_key:
            raw = decode_public_key(self.public_key)
            key_id = key_id_for(raw)
            self._expect({key_id: raw}, "given with --public-key")
            if state.trusted_keys and key_id not in state.trusted_keys:
                self.log(f"note: trusting key {key_id} from --public-key instead of pinned "
                         f"{', '.join(sorted(state.trusted_keys))}")
            state.trusted_keys = {key_id: base64.b64encode(raw).decode()}
        elif not state.trusted_keys:
            published = self.client.signing_keys()
            active = {kid: published.keys[kid] for kid in sorted(published.active)}
            if not active:
                raise VerificationError(f"{self.server} publishes no active Ed25519 signing key")
            if self.trust_key:
                active = self._expect(active, f"{self.server} lists as active")
            state.trusted_keys = {kid: base64.b64encode(raw).decode() for kid, raw in active.items()}
            how = "the key given with --trust-key" if self.trust_key else "trusted on first use"
            self.log(f"pinned signing key {', '.join(active)} from {self.server} ({how})")
        elif self.trust_key:
            self._expect({kid: base64.b64decode(b64) for kid, b64 in state.trusted_keys.items()},
                         f"{self.data_dir}/{STATE_DIR} has pinned")
        return {kid: base64.b64decode(b64) for kid, b64 in state.trusted_keys.items()}

    def _expect(self, keys: dict[str, bytes], whose: str) -> dict[str, bytes]:
        """The keys among ``keys`` that --trust-key names; VerificationError when none (or no --trust-key: all)."""
        if not self.trust_key:
            return keys
        matching = {kid: raw for kid, raw in keys.items() if key_matches(self.trust_key, kid, raw)}
        if not matching:
            raise VerificationError(
                f"the signing key {whose} ({', '.join(sorted(keys))}) is not the one expected with --trust-key "
                f"{self.trust_key}; refusing to trust it (nothing was saved). Check the host's key out of band")
        return matching

    def fetch_manifest(self, version: int, applied: int | None) -> tuple[dict, bytes, str]:
        """Fetch and verify one version's manifest: signature (following key rotations), identity, rollback."""
        try:
            raw, signature = self.client.manifest_and_signature(self.dataset, self.release, version)
            if not signature:  # not sent along (e.g. a CDN served the manifest): the .sig file
                signature = self.client.signature(self.dataset, self.release, version)
            manifest = self.verify(raw, signature, version)
            check_identity(manifest, self.dataset, self.release, version, applied)
        except MirrorClientError as exc:
            exc.version = exc.version or version
            raise
        return manifest, raw, signature

    def verify(self, raw: bytes, signature: str, version: int) -> dict:
        """Verify a manifest; a key the client does not trust yet is accepted through verified rotations."""
        try:
            return verify_manifest(raw, signature, self.trusted)
        except UnknownKeyError as exc:
            key_id = _key_id_in(raw)
            try:
                published = self.client.signing_keys()
            except MirrorClientError:
                raise exc from None
            reached = trust_rotations(self.trusted, published.rotations, key_id)
            if not reached:
                raise UnknownKeyError(
                    f"{self.label} v{version} is signed with key {key_id}, which is not trusted "
                    f"(trusted: {', '.join(sorted(self.trusted))}) and no rotation statement signed by a trusted "
                    f"key leads to it; refusing (if the host replaced its key, check the new key out of band and "
                    f"pass it with --public-key)",
                    version=version,
                ) from None
            self.trusted.update(reached)
            self.state.trusted_keys.update({kid: base64.b64encode(raw).decode() for kid, raw in reached.items()})
            self.log(f"trusting key {', '.join(reached)}: rotation from a trusted key verified")
            return verify_manifest(raw, signature, self.trusted)

    def fetch_lists(self, manifest: Mapping, shards: set[str]) -> dict[str, set[str]]:
        """The verified blocked keys of ``manifest`` for ``shards`` (an empty set for a shard it does not list)."""
        label = f"{self.label} v{manifest['version']}"
        blocked = {shard: set() for shard in shards}
        for entry in manifest["shards"]:
            if entry["shard"] in shards:
                data = self.client.blocklist_file(self.dataset, self.release, manifest["version"], entry["file"])
                blocked[entry["shard"]] = verify_shard_file(data, entry, label)
        return blocked

    def applied_lists(self, shards: set[str]) -> dict[str, set[str]] | None:
        """The applied version's blocked keys of ``shards``: kept locally, else fetched again and checked.

        ``None`` when they cannot be had (the reason is logged).
        """
        state = self.state
        kept = load_blocklist(self.data_dir, state.applied_manifest_sha256)
        if kept is not None and shards <= set(kept):
            return {shard: kept[shard] for shard in shards}
        version = state.applied_version
        try:
            applied = load_applied_manifest(self.data_dir, state.applied_manifest_sha256)
            if applied is None:
                raw = self.client.manifest(self.dataset, self.release, version)
                if sha256_hex(raw) != state.applied_manifest_sha256:
                    raise VerificationError(f"{self.label} v{version} is not the manifest applied here")
            else:
                raw = applied[0]
            return self.fetch_lists(json.loads(raw), shards)
        except (MirrorClientError, ValueError) as exc:
            self.log(f"note: cannot get the blocklist of the applied v{version} ({exc})")
            return None


class _Sync(Session):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.target: int | None = None

    def run(self, announced: dict | None = None) -> SyncResult:
        state = self.open()
        if (announced and state.applied_version and self._mine(announced) and not published_problem(announced)
                and announced["version"] == state.applied_version + 1):
            self.log(f"webhook: {self.label} v{announced['version']} follows the applied "
                     f"v{state.applied_version}: applying it without reading the feed")
            try:
                result = self._bring_up_to_date([announced], None, state.cursor)
            except MirrorClientError as exc:
                self._ack_failure(exc)
                raise
            self._send_pending_acks()
            return result
        etag = state.feed_etag.get("etag") if (state.feed_etag or {}).get("cursor") == state.cursor else None
        feed = read_feed(self.client, state.cursor, etag=etag)
        state.feed_etag = {"cursor": feed.cursor, "etag": feed.etag} if feed.etag else None
        events = [e for e in feed.events if self._mine(e)]
        if feed.not_modified:
            self.log(f"feed: nothing new after cursor {state.cursor} (not modified since the last read)")
        else:
            self.log(f"feed: {len(feed.events)} new {'event' if len(feed.events) == 1 else 'events'} after "
                     f"cursor {state.cursor}, {len(events)} for {self.label}")
        resync = None
        if feed.resync is not None:
            resync = [e for e in feed.resync if self._mine(e)]
            self.log(f"feed: {feed.resync_detail or 'resync'} (cursor {state.cursor}); "
                     f"latest of {self.label}: {', '.join('v' + str(e.get('version')) for e in resync) or 'none'}")
        try:
            result = self._bring_up_to_date(events, resync, feed.cursor)
        except MirrorClientError as exc:
            self._ack_failure(exc)
            raise
        self._send_pending_acks()
        return result

    def _mine(self, event: dict) -> bool:
        return (event.get("type") == PUBLISHED and event.get("dataset") == self.dataset
                and event.get("release") == self.release)

    def _bring_up_to_date(self, events: list[dict], resync: list[dict] | None, cursor: int) -> SyncResult:
        state = self.state
        announced: dict[int, dict] = {}
        for event in (resync or []) + events:
            version = event["version"]
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
        if resync and newest < applied:
            raise RollbackError(f"feed resync names {self.label} v{newest} as the latest, older than the applied "
                                f"v{applied}; refusing rollback", version=newest)
        if newest is None or newest <= applied:
            state.cursor = cursor
            save_state(self.data_dir, state)
            if applied:
                self.log(f"{self.label}: up to date (applied version {applied})")
                return SyncResult(self.release, "up-to-date", applied)
            self.log(f"{self.label}: up to date (no blocklist published yet)")
            return SyncResult(self.release, "nothing-published", None)

        self.target = newest
        manifest, raw, signature = self._fetch_newest(newest, applied, announced, chained=resync is None)
        check_expiry(manifest)
        digest = sha256_hex(raw)
        result, mode, unblocked = self._apply(manifest, digest)

        save_applied_manifest(self.data_dir, raw, signature)
        state.cursor = cursor
        state.applied_version = newest
        state.applied_manifest_sha256 = digest
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        state.add_history({"version": newest, "manifest_sha256": digest, "applied_at": now, "mode": mode,
                           "samples_removed": result.samples_removed, "shards_rewritten": len(result.shards_rewritten),
                           "unblocked": unblocked})
        summary = result.summary()
        if unblocked:
            summary += (f"; {unblocked} {'key' if unblocked == 1 else 'keys'} un-blocked by the host "
                        f"(listed in {STATE_DIR}/{UNBLOCKED_FILE})")
        state.pending_acks = [a for a in state.pending_acks if a["version"] > newest]
        state.pending_acks.append({"dataset": self.dataset, "release": self.release, "version": newest,
                                   "status": "applied", "detail": summary})
        # State before acknowledgement: a lost ack is resent, a lost state would re-fetch everything.
        save_state(self.data_dir, state)
        self.log(f"applied {self.label} v{newest} ({mode}): {summary}")
        return SyncResult(self.release, "applied", newest, [newest], result, mode, unblocked)

    def _fetch_newest(self, newest: int, applied: int, announced: dict[int, dict],
                      chained: bool) -> tuple[dict, bytes, str]:
        """Step 4: verify the manifests from the applied version to the newest (hash chain), or the newest alone."""
        state = self.state
        if not applied:
            versions = [newest]
        elif not chained:
            versions = [newest]
            self.log(f"resync: verifying v{newest} alone (no hash chain from the applied v{applied})")
        elif newest - applied > MAX_CHAIN:
            versions = [newest]
            self.log(f"jumping from v{applied} to v{newest}: more than {MAX_CHAIN} versions apart, "
                     f"verifying v{newest} alone (no hash chain)")
        else:
            versions = list(range(applied + 1, newest + 1))
        chain = []
        for version in versions:
            manifest, raw, signature = self.fetch_manifest(version, applied or None)
            digest = sha256_hex(raw)
            expected = announced.get(version, {}).get("manifest_sha256")
            if expected and expected != digest:
                raise VerificationError(
                    f"{self.label} v{version} manifest has sha256 {digest}, the feed announced {expected}",
                    version=version)
            chain.append((manifest, digest))
        anchored = applied and len(versions) == newest - applied
        if anchored:
            check_chain(chain, (applied, state.applied_manifest_sha256))
        span = f"v{versions[0]}" if len(versions) == 1 else f"v{versions[0]}..v{versions[-1]}"
        self.log(f"verified {self.label} {span}: signed by key {manifest['key_id']}"
                 + (", hash chain intact" if anchored else ""))
        return manifest, raw, signature

    def _apply(self, manifest: dict, digest: str) -> tuple[ApplyResult, str, int]:
        """Step 5: apply the delta when it is based on the applied version, else the full lists."""
        state = self.state
        version = manifest["version"]
        label = f"{self.label} v{version}"
        shards = local_shards(self.data_dir)
        old = self.applied_lists(shards) if state.applied_version else None
        delta = manifest.get("delta")
        new = None
        if (old is not None and delta and delta["base_version"] == state.applied_version
                and delta["base_manifest_sha256"] == state.applied_manifest_sha256):
            new, added, removed = self._delta_lists(manifest, old, shards)
        if new is not None:
            mode = "delta"
            self.log(f"applying {label} as a delta of v{state.applied_version}: {delta['added_keys']} added, "
                     f"{delta['removed_keys']} removed, {len(added)} local {_plural(len(added), 'shard')} to rewrite")
            result = apply_blocklist(self.data_dir, added, key_column=manifest["key_column"])
            result.shards_missing = sorted({e["shard"] for e in delta["shards"] if e["added_count"]} - shards)
            reblocked = added
        else:
            mode = "full"
            new = self.fetch_lists(manifest, shards)
            listed = {e["shard"] for e in manifest["shards"]}
            self.log(f"applying {label}: {manifest['total_keys']} blocked keys in {len(listed)} shards, "
                     f"{len(listed & shards)} present locally")
            result = apply_blocklist(self.data_dir, {s: new[s] for s in sorted(listed & shards)},
                                     key_column=manifest["key_column"])
            result.shards_missing = sorted(listed - shards)
            removed = {s: old[s] - new[s] for s in shards} if old is not None else {}
            reblocked = new
        save_blocklist(self.data_dir, digest, new)
        unblocked = record_unblocked(self.data_dir, dataset=self.dataset, release=self.release, version=version,
                                     unblocked={s: k for s, k in removed.items() if k}, reblocked=reblocked)
        return result, mode, unblocked

    def _delta_lists(self, manifest: dict, old: dict[str, set[str]], shards: set[str]):
        """(new lists, added, removed) of the local shards from the delta, or (None, {}, {}) when it does not fit."""
        label = f"{self.label} v{manifest['version']}"
        new = {shard: set(keys) for shard, keys in old.items()}
        added: dict[str, set[str]] = {}
        removed: dict[str, set[str]] = {}
        for entry in manifest["delta"]["shards"]:
            shard = entry["shard"]
            if shard not in shards:
                continue
            for side, into in (("added", added), ("removed", removed)):
                if entry[f"{side}_count"]:
                    data = self.client.blocklist_file(self.dataset, self.release, manifest["version"],
                                                      entry[f"{side}_file"])
                    into[shard] = verify_delta_file(data, entry, side, label)
            new[shard] = (new[shard] - removed.get(shard, set())) | added.get(shard, set())
        counts = {e["shard"]: e["count"] for e in manifest["shards"]}
        wrong = sorted(s for s in shards if len(new[s]) != counts.get(s, 0)
                       or added.get(s, set()) & old[s] or not removed.get(s, set()) <= old[s])
        if wrong:
            self.log(f"note: the delta of {label} does not fit the kept blocklist of shard {', '.join(wrong[:5])}"
                     f"{'...' if len(wrong) > 5 else ''}; applying the full lists instead")
            return None, {}, {}
        return new, added, removed

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
        save_state(self.data_dir, state, commit=False)  # lost in a crash, the acknowledgements are sent again
        self.log(f"acknowledged {self.label} " + ", ".join(f"v{v}" for v in sent))

    def _ack_failure(self, exc: MirrorClientError) -> None:
        if isinstance(exc, ServerUnreachable):
            return
        version = self.target or exc.version
        if not version:
            return
        try:
            self.client.ack(self.dataset, self.release, version, "failed", str(exc))
        except MirrorClientError:
            pass  # the error being reported matters more than its acknowledgement


def key_matches(expected: str, key_id: str, raw: bytes) -> bool:
    """Whether ``expected`` (a key id, 16 hex digits, or a sha256 fingerprint, 64) names the key ``raw``."""
    expected = expected.strip().lower()
    return expected == key_id if len(expected) == 16 else expected == sha256_hex(raw)


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def _key_id_in(raw: bytes) -> str | None:
    try:
        return json.loads(raw).get("key_id")
    except (ValueError, AttributeError):
        return None
