"""Protocol v2 in the sync: deltas, jumps, un-blocks, refusals, key rotations, feed resync, state migration.

Against the real local host of conftest.py (real HTTP, real Ed25519, real parquet and tar files).
"""

import json

from mirror_client.state import LEGACY_STATE_FILE, STATE_DIR, load_blocklist
from tests.mirror_client.support import TOKEN, V1, fetched, keys_in, run, state_of, synced


def unblocked_of(data_dir):
    return json.loads((data_dir / STATE_DIR / "unblocked.json").read_text())["shards"]


def test_it_applies_a_delta_based_on_the_applied_version(host, data_dir, capsys, snapshot):
    synced(capsys, host, data_dir, V1)
    untouched = snapshot(data_dir)["00002.tar"]
    host.publish("demo", "2026-11", {**V1, "00001": ["000011", "000012"]})
    host.requests.clear()

    status, out, err = run(capsys, host, data_dir)

    assert status == 0, err
    assert "applying demo/2026-11 v2 as a delta of v1: 2 added, 0 removed, 1 local shard to rewrite" in out
    assert "applied demo/2026-11 v2 (delta): 2 samples removed from 1 shard" in out
    assert fetched(host, ".parquet") == ["/api/v1/mirror/blocklists/demo/2026-11/2/files/00001.added.parquet"]
    assert keys_in(data_dir, "00001").isdisjoint({"000011", "000012"})
    assert snapshot(data_dir)["00002.tar"] == untouched
    assert host.acks_of() == [(1, "applied"), (2, "applied")]
    kept = load_blocklist(data_dir, host.versions[("demo", "2026-11", 2)]["sha256"])
    assert kept == {"00000": {"000001", "000003"}, "00001": {"000011", "000012"}, "00002": {"000027"}}
    assert state_of(data_dir)["history"][-1]["mode"] == "delta"


def test_it_records_unblocked_keys_from_a_delta_and_says_so_in_the_ack(host, data_dir, capsys):
    synced(capsys, host, data_dir, V1)
    host.publish("demo", "2026-11", {"00000": ["000003"]})

    status, out, err = run(capsys, host, data_dir)

    assert status == 0, err
    detail = host.acks[-1]["detail"]
    assert detail == ("0 samples removed from 0 shards; 2 keys un-blocked by the host (listed in "
                      ".takedown/unblocked.json)")
    assert unblocked_of(data_dir) == {"00000": {"000001": 2}, "00002": {"000027": 2}}
    assert state_of(data_dir)["history"][-1]["unblocked"] == 2

    # Blocked again later: no longer a key to restore.
    host.publish("demo", "2026-11", {"00000": ["000003"], "00002": ["000027"]})
    assert run(capsys, host, data_dir)[0] == 0
    assert unblocked_of(data_dir) == {"00000": {"000001": 2}}


def test_it_records_unblocked_keys_when_jumping_with_the_full_lists(host, data_dir, capsys):
    synced(capsys, host, data_dir, V1)
    host.publish("demo", "2026-11", {"00000": ["000001"], "00002": ["000027"]})
    host.publish("demo", "2026-11", {"00000": ["000001"], "00001": ["000015"]})

    status, out, err = run(capsys, host, data_dir)

    assert status == 0, err
    assert "applied demo/2026-11 v3 (full)" in out
    assert unblocked_of(data_dir) == {"00000": {"000003": 3}, "00002": {"000027": 3}}
    assert "2 keys un-blocked by the host" in host.acks[-1]["detail"]
    assert host.acks_of() == [(1, "applied"), (3, "applied")]


def test_it_falls_back_to_the_full_lists_when_the_kept_blocklist_is_lost(host, data_dir, capsys):
    synced(capsys, host, data_dir, V1)
    (data_dir / STATE_DIR / "blocklist.parquet").unlink()
    host.publish("demo", "2026-11", {"00000": ["000003"], "00001": ["000011"]})

    status, out, err = run(capsys, host, data_dir)

    # The applied lists are fetched again (checked against the kept manifest): the delta still applies.
    assert status == 0, err
    assert "applied demo/2026-11 v2 (delta): 1 sample removed from 1 shard" in out
    assert unblocked_of(data_dir) == {"00000": {"000001": 2}, "00002": {"000027": 2}}


def test_it_jumps_more_than_fifty_versions_verifying_only_the_newest(host, data_dir, capsys):
    synced(capsys, host, data_dir, V1)
    for n in range(52):
        host.publish("demo", "2026-11", {**V1, "00001": [f"00001{n % 10}"]})
    host.requests.clear()

    status, out, err = run(capsys, host, data_dir)

    assert status == 0, err
    assert "jumping from v1 to v53: more than 50 versions apart, verifying v53 alone (no hash chain)" in out
    assert [p.split("/")[-2] for p in fetched(host, "manifest.json")] == ["53"]
    assert host.acks_of() == [(1, "applied"), (53, "applied")]


def test_it_refuses_an_unsigned_version(host, data_dir, capsys, snapshot):
    host.add_release("demo", "2026-11", data_dir)
    host.publish("demo", "2026-11", V1)["sig"] = None
    before = snapshot(data_dir)

    status, _, err = run(capsys, host, data_dir)

    assert status == 1
    assert err == ("error: demo/2026-11 v1 is unsigned: its manifest.json.sig is missing (HTTP 404); refusing\n")
    assert host.acks_of() == [(1, "failed")]
    assert snapshot(data_dir) == before


def test_it_refuses_an_empty_signature(host, data_dir, capsys):
    synced(capsys, host, data_dir, V1)
    host.publish("demo", "2026-11", V1)["sig"] = "  "

    status, _, err = run(capsys, host, data_dir)

    assert status == 1
    assert err == "error: demo/2026-11 v2 is unsigned: its manifest.json.sig is empty; refusing\n"
    assert state_of(data_dir)["applied_version"] == 1


def test_it_follows_a_key_rotation_signed_by_the_trusted_key(host, data_dir, capsys):
    synced(capsys, host, data_dir, V1)
    old = host.signer
    first = host.rotate()
    second = host.rotate()
    host.publish("demo", "2026-11", {**V1, "00001": ["000011"]})

    status, out, err = run(capsys, host, data_dir)

    assert status == 0, err
    assert "rotation from a trusted key verified" in out
    assert set(state_of(data_dir)["trusted_keys"]) == {old.key_id, first.key_id, second.key_id}
    assert host.acks_of() == [(1, "applied"), (2, "applied")]


def test_it_refuses_a_rotation_statement_not_signed_by_a_trusted_key(host, data_dir, capsys, make_signer,
                                                                      make_rotation):
    synced(capsys, host, data_dir, V1)
    stranger, new = make_signer(), make_signer()
    forged = make_rotation(stranger, new)
    forged["old_key_id"] = host.signer.key_id  # claims to come from the trusted key
    host.rotations.append(forged)
    host.published_keys = [new]
    host.publish("demo", "2026-11", V1, signer=new)

    status, _, err = run(capsys, host, data_dir)

    assert status == 1
    assert err.startswith(f"error: demo/2026-11 v2 is signed with key {new.key_id}, which is not trusted")
    assert new.key_id not in state_of(data_dir)["trusted_keys"]


def test_it_pins_only_the_active_key_at_first_sync(host, data_dir, capsys):
    retired = host.signer
    active = host.rotate()
    host.add_release("demo", "2026-11", data_dir)
    host.publish("demo", "2026-11", V1)

    status, out, err = run(capsys, host, data_dir)

    assert status == 0, err
    assert f"pinned signing key {active.key_id}" in out
    assert retired.key_id not in state_of(data_dir)["trusted_keys"]


def test_it_resyncs_from_the_latest_versions_after_a_410(host, data_dir, capsys):
    synced(capsys, host, data_dir, V1)
    for n in range(3):
        host.publish("demo", "2026-11", {**V1, "00001": [f"00001{n}"]})
    host.floor = 3  # events 1 to 3 pruned; the mirror's cursor is 1
    host.requests.clear()

    status, out, err = run(capsys, host, data_dir)

    assert status == 0, err
    assert "cursor 1 is older than the feed's retention window" in out
    assert "resync: verifying v4 alone (no hash chain from the applied v1)" in out
    assert [p.split("/")[-2] for p in fetched(host, "manifest.json")] == ["4"]
    assert "applied demo/2026-11 v4 (full)" in out
    assert host.acks_of() == [(1, "applied"), (4, "applied")]
    assert state_of(data_dir)["cursor"] == 4
    assert keys_in(data_dir, "00001") == {f"00001{i}" for i in range(10)} - {"000012"}


def test_it_refuses_a_resync_that_goes_back(host, data_dir, capsys):
    synced(capsys, host, data_dir, V1, V1)
    host.publish("demo", "2026-11", V1)
    assert run(capsys, host, data_dir)[0] == 0
    del host.versions[("demo", "2026-11", 3)]
    host.events = [e for e in host.events if e["version"] < 3]
    host.floor = 5

    status, _, err = run(capsys, host, data_dir)

    assert status == 1
    assert err == ("error: feed resync names demo/2026-11 v2 as the latest, older than the applied v3; "
                   "refusing rollback\n")


def test_it_migrates_the_state_of_the_first_client(host, data_dir, capsys):
    synced(capsys, host, data_dir, V1)
    state = state_of(data_dir)
    legacy = {"format": "takedown.mirror-state/1", "server": state["server"], "dataset": "demo",
              "release": "2026-11", "cursor": state["cursor"], "public_keys": state["trusted_keys"],
              "applied_version": 1, "applied_manifest_sha256": state["applied_manifest_sha256"],
              "pending_acks": [], "history": state["history"]}
    for path in (data_dir / STATE_DIR).iterdir():
        path.unlink()
    (data_dir / STATE_DIR).rmdir()
    (data_dir / LEGACY_STATE_FILE).write_text(json.dumps(legacy))
    host.publish("demo", "2026-11", {"00000": ["000001"]})

    status, out, err = run(capsys, host, data_dir)

    assert status == 0, err
    assert not (data_dir / LEGACY_STATE_FILE).exists()
    migrated = state_of(data_dir)
    assert migrated["trusted_keys"] == state["trusted_keys"] and migrated["applied_version"] == 2
    # The applied v1's lists came from the server, checked against the recorded digest.
    assert "applied demo/2026-11 v2 (delta)" in out
    assert unblocked_of(data_dir) == {"00000": {"000003": 2}, "00002": {"000027": 2}}


def test_an_event_from_a_webhook_that_follows_the_applied_version_skips_the_feed(host, data_dir, capsys):
    from mirror_client.sync import sync

    synced(capsys, host, data_dir, V1)
    host.publish("demo", "2026-11", {**V1, "00001": ["000011"]})
    event = host.events[-1]
    host.requests.clear()
    lines = []

    result = sync(host.url, TOKEN, "demo", data_dir, announced=event, log=lines.append)

    assert result.applied_version == 2 and result.mode == "delta"
    assert not fetched(host, "/feed") and "applying it without reading the feed" in "\n".join(lines)
    assert fetched(host, "manifest.json.sig")  # this host sends no signature header: the .sig file is read
    assert host.acks_of() == [(1, "applied"), (2, "applied")]
    assert state_of(data_dir)["cursor"] == 1  # the cursor moves at the next full sync
    # An event that does not follow the applied version (here: one already applied) means a full sync.
    host.requests.clear()
    assert sync(host.url, TOKEN, "demo", data_dir, announced=event).status == "up-to-date"
    assert fetched(host, "/feed")


def test_a_forged_webhook_event_cannot_make_the_client_apply_anything_unsigned(host, data_dir, capsys):
    from mirror_client.errors import VerificationError
    from mirror_client.sync import sync

    synced(capsys, host, data_dir, V1)
    host.publish("demo", "2026-11", {**V1, "00001": ["000011"]})
    forged = {**host.events[-1], "manifest_sha256": "0" * 64}

    try:
        sync(host.url, TOKEN, "demo", data_dir, announced=forged)
    except VerificationError as exc:
        assert "manifest" in str(exc)
    else:
        raise AssertionError("a manifest whose digest differs from the announced one was applied")
    assert keys_in(data_dir, "00001") >= {"000011"}


def test_syncs_of_one_folder_take_turns(host, data_dir, capsys, monkeypatch):
    import importlib
    import threading

    from mirror_client.fsutil import folder_lock
    from mirror_client.state import STATE_DIR

    sync_module = importlib.import_module("mirror_client.sync")  # the package exports the function as `sync`
    synced(capsys, host, data_dir, V1)
    host.publish("demo", "2026-11", {**V1, "00001": ["000011"]})
    lock = data_dir / STATE_DIR / sync_module.LOCK_FILE
    order = []
    with folder_lock(lock):  # as a receiver's sync would hold it
        runner = threading.Thread(target=lambda: order.append(sync_module.sync(host.url, TOKEN, "demo", data_dir)))
        runner.start()
        runner.join(1.0)
        assert runner.is_alive() and not order  # the cron sync waits for the running one
        order.append("first done")
    runner.join(30)
    assert order[0] == "first done" and order[1].applied_version == 2

    # One that waits too long says so, naming the folder.
    monkeypatch.setattr(sync_module, "folder_lock", lambda path: folder_lock(path, timeout=0.3))
    with folder_lock(lock):
        result = []

        def blocked():
            try:
                sync_module.sync(host.url, TOKEN, "demo", data_dir)
            except sync_module.MirrorClientError as exc:
                result.append(str(exc))

        worker = threading.Thread(target=blocked)
        worker.start()
        worker.join(10)
    assert result and str(data_dir) in result[0] and "is a sync stuck?" in result[0]
