"""The client never reads past a feed event it cannot judge, and can be told which host key to expect."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mirror_client.state import STATE_DIR, STATE_FILE
from tests.mirror_client.support import TOKEN, V1, args_for, keys_in, run, state_of, synced

V2 = {**V1, "00001": ["000012"]}


def test_a_negative_version_does_not_move_the_cursor_past_the_version_it_hides(host, data_dir, run_cli):
    host.add_release("demo", "2026-11", data_dir)
    host.publish("demo", "2026-11", V1)
    host.events[0]["version"] = -1  # the host's bug

    for _ in range(2):  # every sync says so, none says "up to date"
        proc = run_cli(*args_for(host, data_dir))
        assert proc.returncode == 1
        assert proc.stderr == (
            "error: event 1 of the feed after cursor 0 is malformed: version is -1, not a positive whole number; "
            "not reading past it (the cursor stays where it was, so the next sync reads it again once the host "
            "fixes it)\n")
        assert "up to date" not in proc.stdout
        assert not (data_dir / STATE_DIR / STATE_FILE).exists()

    host.events[0]["version"] = 1  # fixed
    proc = run_cli(*args_for(host, data_dir))
    assert proc.returncode == 0, proc.stderr
    assert "applied demo/2026-11 v1 (full)" in proc.stdout
    assert state_of(data_dir)["cursor"] == 1 and state_of(data_dir)["applied_version"] == 1


def _break(event, field, value):
    if value is DROP:
        del event[field]
    else:
        event[field] = value


DROP = object()
BROKEN = [
    ("version", "2", "event 2 of the feed after cursor 1 is malformed: version is '2', not a positive whole number"),
    ("version", 2.0, "event 2 of the feed after cursor 1 is malformed: version is 2.0, not a positive whole number"),
    ("version", 0, "event 2 of the feed after cursor 1 is malformed: version is 0, not a positive whole number"),
    ("version", DROP, "event 2 of the feed after cursor 1 is malformed: version is missing"),
    ("dataset", DROP, "event 2 of the feed after cursor 1 is malformed: dataset is missing, not a name"),
    ("release", 2026, "event 2 of the feed after cursor 1 is malformed: release is 2026, not a name"),
    ("manifest_sha256", "abc", "event 2 of the feed after cursor 1 is malformed: manifest_sha256 is 'abc', not 64"),
    ("type", None, "event 2 of the feed after cursor 1 is malformed: type is missing, not a string"),
    ("id", "2", "event number 1 of the feed after cursor 1 is malformed: id is '2', not a whole number"),
]


@pytest.mark.parametrize(("field", "value", "message"), BROKEN,
                         ids=[f"{f}={'dropped' if v is DROP else repr(v)}" for f, v, _ in BROKEN])
def test_a_malformed_event_stops_the_sync_before_it_and_is_read_again(host, data_dir, capsys, field, value,
                                                                        message):
    synced(capsys, host, data_dir, V1)
    before = (data_dir / STATE_DIR / STATE_FILE).read_bytes()
    host.publish("demo", "2026-11", V2)
    broken = dict(host.events[1])
    _break(broken, field, value)
    host.served_as[2] = broken

    status, _, err = run(capsys, host, data_dir)

    assert status == 1
    assert err.startswith("error: " + message)
    assert (data_dir / STATE_DIR / STATE_FILE).read_bytes() == before  # cursor 1, v1 applied
    assert host.acks_of() == [(1, "applied")]

    del host.served_as[2]
    status, out, err = run(capsys, host, data_dir)
    assert status == 0, err
    assert "applied demo/2026-11 v2" in out
    assert "000012" not in keys_in(data_dir, "00001")
    assert state_of(data_dir)["cursor"] == 2


def test_an_event_that_is_not_an_object_stops_the_sync_too(host, data_dir, capsys):
    synced(capsys, host, data_dir, V1)
    host.publish("demo", "2026-11", V2)
    host.served_as[2] = "v2 is out"

    status, _, err = run(capsys, host, data_dir)

    assert status == 1
    assert err.startswith("error: event number 1 of the feed after cursor 1 is malformed: is 'v2 is out', "
                          "not an object")
    assert state_of(data_dir)["cursor"] == 1


def test_events_of_other_types_are_passed_over(host, data_dir, capsys):
    synced(capsys, host, data_dir, V1)
    host.events.append({"id": 2, "type": "dataset.renamed", "created_at": "2026-11-28T01:00:00Z"})
    host.publish("demo", "2026-11", V2)

    status, out, err = run(capsys, host, data_dir)

    assert status == 0, err
    assert "applied demo/2026-11 v2" in out


# -- --trust-key ------------------------------------------------------------------------


def fingerprint(signer):
    return hashlib.sha256(signer.raw).hexdigest()


@pytest.mark.parametrize("by", ["key id", "fingerprint"])
def test_the_first_sync_pins_the_expected_key(host, data_dir, run_cli, by):
    host.add_release("demo", "2026-11", data_dir)
    host.publish("demo", "2026-11", V1)
    expected = host.signer.key_id if by == "key id" else fingerprint(host.signer).upper()

    proc = run_cli(*args_for(host, data_dir, "--trust-key", expected))

    assert proc.returncode == 0, proc.stderr
    assert (f"pinned signing key {host.signer.key_id} from {host.url} (the key given with --trust-key)"
            in proc.stdout)
    assert state_of(data_dir)["trusted_keys"] == {host.signer.key_id: host.signer.b64}
    # Later syncs with the same option check the pinned key against it.
    assert run_cli(*args_for(host, data_dir, "--trust-key", expected)).returncode == 0


def test_the_first_sync_refuses_another_key_and_saves_nothing(host, data_dir, run_cli, make_signer, snapshot):
    host.add_release("demo", "2026-11", data_dir)
    host.publish("demo", "2026-11", V1)
    expected = make_signer()
    before = snapshot(data_dir)

    for value in (expected.key_id, fingerprint(expected)):
        proc = run_cli(*args_for(host, data_dir, "--trust-key", value))

        assert proc.returncode == 1
        assert proc.stderr == (
            f"error: the signing key {host.url} lists as active ({host.signer.key_id}) is not the one expected "
            f"with --trust-key {value}; refusing to trust it (nothing was saved). Check the host's key out of "
            f"band\n")
        assert not (data_dir / STATE_DIR / STATE_FILE).exists()
        assert snapshot(data_dir) == before
        assert host.acks == []


def test_a_pinned_key_is_checked_against_it_too(host, data_dir, capsys, make_signer):
    synced(capsys, host, data_dir, V1)
    before = (data_dir / STATE_DIR / STATE_FILE).read_bytes()
    other = make_signer()

    status, _, err = run(capsys, host, data_dir, "--trust-key", other.key_id)

    assert status == 1
    assert f"has pinned ({host.signer.key_id}) is not the one expected with --trust-key {other.key_id}" in err
    assert (data_dir / STATE_DIR / STATE_FILE).read_bytes() == before


def test_a_key_given_with_public_key_must_match_it(host, data_dir, capsys, make_signer):
    host.add_release("demo", "2026-11", data_dir)
    host.publish("demo", "2026-11", V1)
    other = make_signer()

    status, _, err = run(capsys, host, data_dir, "--public-key", host.signer.b64, "--trust-key", other.key_id)

    assert status == 1
    assert f"given with --public-key ({host.signer.key_id}) is not the one expected" in err
    assert not (data_dir / STATE_DIR / STATE_FILE).exists()


def test_a_trust_key_that_is_not_a_key_id_is_a_usage_error(host, data_dir, run_cli):
    proc = run_cli(*args_for(host, data_dir, "--trust-key", "not-hex"))

    assert proc.returncode == 2
    assert ("argument --trust-key: 'not-hex' is neither a key id (16 hex digits) nor a sha256 fingerprint "
            "(64 hex digits)") in proc.stderr


def test_receive_takes_it_too(host, data_dir, make_signer):
    host.add_release("demo", "2026-11", data_dir)
    host.publish("demo", "2026-11", V1)
    other = make_signer()
    env = dict(os.environ, no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost",
               TAKEDOWN_MIRROR_TOKEN=TOKEN, TAKEDOWN_WEBHOOK_SECRET="whsec_" + "QUJD" * 8)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mirror_client", "receive", "--listen", "127.0.0.1:0", "--server", host.url,
         "--dataset", "demo", "--data", str(data_dir), "--poll", "0", "--trust-key", other.key_id],
        cwd=Path(__file__).resolve().parents[2], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(r["path"].endswith("signing-keys.json") for r in host.requests):
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert f"is not the one expected with --trust-key {other.key_id}" in err
    assert not (data_dir / STATE_DIR / STATE_FILE).exists()
    assert host.acks == []
