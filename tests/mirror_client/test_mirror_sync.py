"""The sync command end to end, against a real local host serving the protocol."""

import shutil

from mirror_client import __version__
from mirror_client.state import STATE_DIR
from tests.mirror_client.support import V1, args_for, fetched, keys_in, run, state_of, synced, tar_keys


def test_it_applies_and_acknowledges_on_first_sync(host, data_dir, run_cli, read_tar):
    host.add_release("demo", "2026-11", data_dir)
    host.publish("demo", "2026-11", V1)

    proc = run_cli(*args_for(host, data_dir))

    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "demo/2026-11: release the dataset's only release" in proc.stdout
    assert "applied demo/2026-11 v1 (full): 3 samples removed from 2 shards" in proc.stdout
    assert "acknowledged demo/2026-11 v1" in proc.stdout
    assert host.acks == [{"dataset": "demo", "release": "2026-11", "version": 1, "status": "applied",
                          "detail": "3 samples removed from 2 shards"}]
    assert keys_in(data_dir, "00000").isdisjoint({"000001", "000003"}) and len(keys_in(data_dir, "00000")) == 8
    assert "000027" not in tar_keys(read_tar, data_dir, "00002")
    assert len(keys_in(data_dir, "00001")) == 10
    state = state_of(data_dir)
    assert state["release"] == "2026-11"
    assert state["applied_version"] == 1
    assert state["applied_manifest_sha256"] == host.versions[("demo", "2026-11", 1)]["sha256"]
    assert state["cursor"] == 1
    assert state["trusted_keys"] == {host.signer.key_id: host.signer.b64}
    assert state["pending_acks"] == []
    assert state["history"][0]["version"] == 1
    assert (data_dir / STATE_DIR / "manifest.json").read_bytes() == host.versions[("demo", "2026-11", 1)]["raw"]
    assert not (data_dir / ".takedown-sync.json").exists()
    assert all(r["headers"]["User-Agent"] == f"takedown-mirror-client/{__version__}" for r in host.requests)


def test_it_says_up_to_date_on_the_second_sync(host, data_dir, run_cli, snapshot):
    host.add_release("demo", "2026-11", data_dir)
    host.publish("demo", "2026-11", V1)
    assert run_cli(*args_for(host, data_dir)).returncode == 0
    before = snapshot(data_dir)
    host.requests.clear()

    proc = run_cli(*args_for(host, data_dir))

    assert proc.returncode == 0, proc.stderr
    assert "demo/2026-11: up to date (applied version 1)" in proc.stdout
    assert snapshot(data_dir) == before
    assert len(host.acks) == 1
    assert fetched(host, "manifest.json") == []
    assert fetched(host, "signing-keys.json") == []  # the pinned key is used


def test_it_fails_in_one_line_on_a_tampered_manifest(host, data_dir, run_cli, snapshot):
    host.add_release("demo", "2026-11", data_dir)
    version = host.publish("demo", "2026-11", V1)
    version["raw"] = version["raw"].replace(b'"total_keys": 3', b'"total_keys":  3')
    before = snapshot(data_dir)

    proc = run_cli(*args_for(host, data_dir))

    assert proc.returncode == 1
    assert proc.stderr == (f"error: signature of demo/2026-11 v1 manifest does not verify with key "
                           f"{host.signer.key_id}\n")
    assert host.acks == [{"dataset": "demo", "release": "2026-11", "version": 1, "status": "failed",
                          "detail": f"signature of demo/2026-11 v1 manifest does not verify with key "
                                    f"{host.signer.key_id}"}]
    assert snapshot(data_dir) == before  # nothing applied, no state saved


def test_it_applies_only_the_newest_version_on_first_sync(host, data_dir, run_cli):
    host.add_release("demo", "2026-11", data_dir)
    host.add_release("other", "2026-01", digests={"00000": "0" * 64})
    host.publish("demo", "2026-11", {"00000": ["000001"]})
    host.publish("other", "2026-01", {"00000": ["000002"]})
    host.publish("demo", "2026-11", {"00000": ["000001", "000003"]})
    host.publish("demo", "2026-11", V1)

    proc = run_cli(*args_for(host, data_dir))

    assert proc.returncode == 0, proc.stderr
    assert "feed: 4 new events after cursor 0, 3 for demo/2026-11" in proc.stdout
    assert "verified demo/2026-11 v3: signed by key" in proc.stdout
    assert "acknowledged demo/2026-11 v3" in proc.stdout
    assert host.acks_of() == [(3, "applied")]
    assert host.acks[0]["detail"] == "3 samples removed from 2 shards"
    assert [p.split("/")[-2] for p in fetched(host, "manifest.json")] == ["3"]
    assert all("/3/files/" in p for p in fetched(host, ".parquet"))
    assert state_of(data_dir)["cursor"] == 4


def test_it_verifies_the_chain_of_the_versions_it_skips_and_acknowledges_the_newest(host, data_dir, capsys):
    synced(capsys, host, data_dir, {"00000": ["000001"]})
    host.publish("demo", "2026-11", {"00000": ["000001", "000003"]})
    host.publish("demo", "2026-11", V1)
    host.requests.clear()

    status, out, err = run(capsys, host, data_dir)

    assert status == 0, err
    assert "verified demo/2026-11 v2..v3: signed by key" in out and "hash chain intact" in out
    assert [p.split("/")[-2] for p in fetched(host, "manifest.json")] == ["2", "3"]
    # v3's delta is against v2, not the applied v1: the full lists of v3 are applied.
    assert "applied demo/2026-11 v3 (full): 2 samples removed from 2 shards" in out
    assert all("/3/files/" in p and ".added." not in p for p in fetched(host, ".parquet"))
    assert host.acks_of() == [(1, "applied"), (3, "applied")]
    assert state_of(data_dir)["applied_version"] == 3


def test_it_anchors_the_next_version_to_the_applied_one(host, data_dir, capsys):
    synced(capsys, host, data_dir, V1)
    host.publish("demo", "2026-11", {**V1, "00001": ["000011"]})
    host.requests.clear()

    status, out, err = run(capsys, host, data_dir)

    assert status == 0, err
    assert "applied demo/2026-11 v2 (delta): 1 sample removed from 1 shard" in out
    assert [p.split("/")[-2] for p in fetched(host, "manifest.json")] == ["2"]
    assert host.acks_of() == [(1, "applied"), (2, "applied")]
    assert "000011" not in keys_in(data_dir, "00001")


def test_it_refuses_a_broken_hash_chain(host, data_dir, capsys):
    synced(capsys, host, data_dir, V1)
    host.publish("demo", "2026-11", V1, previous_manifest_sha256="ab" * 32, delta=None)

    status, _, err = run(capsys, host, data_dir)

    assert status == 1
    assert err.startswith("error: hash chain broken between demo/2026-11 v1 and v2: v2 names previous manifest "
                          f"sha256 {'ab' * 32}")
    assert host.acks_of("failed") == [(2, "failed")]
    assert state_of(data_dir)["applied_version"] == 1


def test_it_refuses_a_rollback(host, data_dir, capsys):
    synced(capsys, host, data_dir, V1, V1)
    # The host serves the old, validly signed v1 as "v3".
    host.versions[("demo", "2026-11", 3)] = host.versions[("demo", "2026-11", 1)]
    host.announce("demo", "2026-11", 3)

    status, _, err = run(capsys, host, data_dir)

    assert status == 1
    assert err == ("error: server offered demo/2026-11 v1 (asked for v3), not newer than the applied v2; "
                   "refusing rollback\n")
    assert host.acks_of("failed") == [(3, "failed")]
    assert state_of(data_dir)["applied_version"] == 2


def test_it_ignores_a_replayed_feed(host, data_dir, capsys):
    synced(capsys, host, data_dir, V1, V1)
    host.announce("demo", "2026-11", 1)
    host.announce("demo", "2026-11", 2)

    status, out, _ = run(capsys, host, data_dir)

    assert status == 0
    assert "up to date (applied version 2)" in out
    assert host.acks_of() == [(2, "applied")]
    assert state_of(data_dir)["cursor"] == 4


def test_it_refuses_the_applied_version_announced_with_another_manifest(host, data_dir, capsys):
    synced(capsys, host, data_dir, V1)
    host.announce("demo", "2026-11", 1, manifest_sha256="f" * 64)

    status, _, err = run(capsys, host, data_dir)

    assert status == 1
    assert f"feed announces demo/2026-11 v1 with manifest sha256 {'f' * 64}, but the applied v1 had" in err
    assert host.acks_of() == [(1, "applied"), (1, "failed")]
    assert state_of(data_dir)["cursor"] == 1


def test_it_refuses_a_shard_file_with_another_digest(host, data_dir, capsys, snapshot):
    host.add_release("demo", "2026-11", data_dir)
    version = host.publish("demo", "2026-11", V1)
    version["files"]["00002.parquet"] = version["files"]["00000.parquet"]
    before = snapshot(data_dir)

    status, _, err = run(capsys, host, data_dir)

    assert status == 1
    assert err.startswith("error: blocklist file 00002.parquet of demo/2026-11 v1: sha256 ")
    assert host.acks_of() == [(1, "failed")]
    assert snapshot(data_dir) == before  # nothing rewritten before every file checked out


def test_it_skips_shards_not_present_locally(host, data_dir, capsys):
    host.add_release("demo", "2026-11", data_dir)
    host.publish("demo", "2026-11", {**V1, "00005": ["000050", "000051"]})

    status, out, _ = run(capsys, host, data_dir)

    assert status == 0
    assert "applied demo/2026-11 v1 (full): 3 samples removed from 2 shards; 1 shard not present locally" in out
    assert host.acks[0]["detail"] == "3 samples removed from 2 shards; 1 shard not present locally"
    assert fetched(host, "00005.parquet") == []


def test_it_reports_an_already_clean_copy(host, data_dir, capsys):
    synced(capsys, host, data_dir, V1)
    shutil.rmtree(data_dir / STATE_DIR)

    status, out, _ = run(capsys, host, data_dir)

    assert status == 0
    assert "0 samples removed from 0 shards; 2 shards already clean" in out


def test_it_finds_the_release_by_the_local_parquet_digests(host, data_dir, capsys, tmp_path, make_shard):
    elsewhere = tmp_path / "2026-12"
    elsewhere.mkdir()
    make_shard(elsewhere, 0, failed=(1, 2))
    host.add_release("demo", "2026-12", elsewhere)
    host.add_release("demo", "2026-11", data_dir)
    host.publish("demo", "2026-11", V1)
    (data_dir / "00001.parquet").unlink()  # a partial copy still matches

    status, out, _ = run(capsys, host, data_dir)

    assert status == 0
    assert "demo/2026-11: release matched by the digests of the local parquet files" in out
    assert state_of(data_dir)["release"] == "2026-11"


def test_it_asks_for_the_release_when_it_cannot_tell(host, data_dir, capsys):
    host.add_release("demo", "2026-11", digests={"00000": "1" * 64})
    host.add_release("demo", "2026-12", digests={"00000": "2" * 64})

    status, _, err = run(capsys, host, data_dir)

    assert status == 1
    assert err == ("error: cannot tell which release of demo " + str(data_dir) + " holds (no local parquet file "
                   "matches a release); pass --release (one of 2026-11, 2026-12)\n")

    assert run(capsys, host, data_dir, "--release", "2026-12")[0] == 0
    assert state_of(data_dir)["release"] == "2026-12"
    status, _, err = run(capsys, host, data_dir, "--release", "2026-11")
    assert status == 1 and "was synced as release 2026-12, not 2026-11" in err


def test_it_refuses_an_unknown_release(host, data_dir, capsys):
    host.add_release("demo", "2026-11", data_dir)

    status, _, err = run(capsys, host, data_dir, "--release", "2025-01")

    assert status == 1
    assert err == "error: demo has no release 2025-01 (releases: 2026-11)\n"


def test_it_refuses_a_manifest_signed_by_a_key_it_was_not_given(host, data_dir, capsys, make_signer):
    host.add_release("demo", "2026-11", data_dir)
    host.publish("demo", "2026-11", V1)
    mine = make_signer()

    status, _, err = run(capsys, host, data_dir, "--public-key", mine.b64)

    assert status == 1
    assert err == (f"error: demo/2026-11 v1 is signed with key {host.signer.key_id}, which is not trusted "
                   f"(trusted: {mine.key_id}) and no rotation statement signed by a trusted key leads to it; refusing "
                   f"(if the host replaced its key, check the new key out of band and pass it with --public-key)\n")
    assert host.acks_of() == [(1, "failed")]


def test_it_refuses_a_changed_host_key_until_given_explicitly(host, data_dir, capsys, make_signer):
    synced(capsys, host, data_dir, V1)
    rotated = make_signer()
    host.published_keys = [rotated]
    host.publish("demo", "2026-11", V1, signer=rotated)

    status, _, err = run(capsys, host, data_dir)

    assert status == 1
    assert err.startswith(f"error: demo/2026-11 v2 is signed with key {rotated.key_id}, which is not trusted "
                          f"(trusted: {host.signer.key_id}) and no rotation statement")
    assert host.acks_of("failed") == [(2, "failed")]

    status, out, _ = run(capsys, host, data_dir, "--public-key", rotated.b64)
    assert status == 0
    assert f"note: trusting key {rotated.key_id} from --public-key instead of pinned {host.signer.key_id}" in out
    assert state_of(data_dir)["trusted_keys"] == {rotated.key_id: rotated.b64}


def test_it_reports_http_errors_in_one_line(host, data_dir, run_cli):
    host.add_release("demo", "2026-11", data_dir)

    proc = run_cli(*args_for(host, data_dir, token="td_mirror_revoked"))

    assert proc.returncode == 1
    assert proc.stderr == ("error: HTTP 401 from GET /api/v1/mirror/datasets/demo/releases: "
                           "Invalid or revoked mirror token.\n")
    assert "Traceback" not in proc.stdout + proc.stderr


def test_it_resends_an_acknowledgement_the_server_did_not_take(host, data_dir, capsys):
    host.add_release("demo", "2026-11", data_dir)
    host.publish("demo", "2026-11", V1)
    host.fail["/api/v1/mirror/acks"] = [500]

    status, _, err = run(capsys, host, data_dir)

    assert status == 1
    assert err.startswith("error: could not acknowledge demo/2026-11 v1 (HTTP 500 from POST /api/v1/mirror/acks")
    assert state_of(data_dir)["applied_version"] == 1
    assert len(state_of(data_dir)["pending_acks"]) == 1

    status, out, _ = run(capsys, host, data_dir)

    assert status == 0
    assert "up to date (applied version 1)" in out and "acknowledged demo/2026-11 v1" in out
    assert host.acks_of() == [(1, "applied")]
    assert state_of(data_dir)["pending_acks"] == []


def test_it_retries_a_busy_server_during_a_sync(host, data_dir, capsys):
    host.add_release("demo", "2026-11", data_dir)
    host.publish("demo", "2026-11", V1)
    host.fail["/api/v1/mirror/blocklists/demo/2026-11/1/manifest.json"] = [503]

    status, _, err = run(capsys, host, data_dir, "--quiet")

    assert status == 0, err
    assert capsys.readouterr().out == ""
    assert host.acks_of() == [(1, "applied")]


def test_it_says_when_nothing_is_published_yet(host, data_dir, capsys):
    host.add_release("demo", "2026-11", data_dir)

    status, out, _ = run(capsys, host, data_dir)

    assert status == 0
    assert "demo/2026-11: up to date (no blocklist published yet)" in out
    assert state_of(data_dir)["trusted_keys"] == {host.signer.key_id: host.signer.b64}


def test_it_refuses_an_expired_blocklist(host, data_dir, capsys, snapshot):
    host.add_release("demo", "2026-11", data_dir)
    host.publish("demo", "2026-11", V1, expires_at="2020-01-01T00:00:00Z")
    before = snapshot(data_dir)

    status, _, err = run(capsys, host, data_dir)

    assert status == 1
    assert err.startswith("error: demo/2026-11 v1 expired at 2020-01-01T00:00:00Z; refusing")
    assert host.acks_of() == [(1, "failed")]
    assert snapshot(data_dir) == before


def test_it_fails_without_traceback_when_the_folder_is_missing(host, tmp_path, run_cli):
    proc = run_cli(*args_for(host, tmp_path / "nope"))

    assert proc.returncode == 1
    assert proc.stderr == f"error: data folder {tmp_path / 'nope'} does not exist\n"
