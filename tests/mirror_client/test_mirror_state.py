"""The state file: atomic, readable back, refused when damaged."""

import json

import pytest

from mirror_client import SyncState, load_state, save_state
from mirror_client.errors import StateError
from mirror_client.state import HISTORY_LIMIT, LEGACY_STATE_FILE, STATE_DIR, STATE_FILE


def test_it_reads_back_what_it_saved(tmp_path):
    state = SyncState(server="https://host", dataset="demo", release="2026-11", cursor=12,
                      trusted_keys={"0123456789abcdef": "AAAA"}, applied_version=3,
                      applied_manifest_sha256="e" * 64)

    save_state(tmp_path, state)

    assert load_state(tmp_path) == state
    saved = json.loads((tmp_path / STATE_DIR / STATE_FILE).read_text())
    assert saved["format"] == "takedown.mirror-state/2"
    assert saved["applied_version"] == 3
    assert [p.name for p in (tmp_path / STATE_DIR).iterdir()] == [STATE_FILE]  # no temporary file left


def test_it_has_no_state_before_the_first_sync(tmp_path):
    assert load_state(tmp_path) is None


def test_it_keeps_a_short_history(tmp_path):
    state = SyncState(server="https://host", dataset="demo")
    for version in range(1, HISTORY_LIMIT + 6):
        state.add_history({"version": version})

    assert len(state.history) == HISTORY_LIMIT
    assert state.history[-1] == {"version": HISTORY_LIMIT + 5}


def test_it_refuses_a_damaged_state_file(tmp_path):
    (tmp_path / STATE_DIR).mkdir()
    (tmp_path / STATE_DIR / STATE_FILE).write_text("{not json")

    with pytest.raises(StateError, match="is damaged"):
        load_state(tmp_path)


def test_it_migrates_the_state_file_of_the_first_client(tmp_path):
    (tmp_path / LEGACY_STATE_FILE).write_text(json.dumps({
        "format": "takedown.mirror-state/1", "server": "https://host", "dataset": "demo", "release": "2026-11",
        "cursor": 4, "public_keys": {"0123456789abcdef": "AAAA"}, "applied_version": 2,
        "applied_manifest_sha256": "e" * 64, "pending_acks": [], "history": [{"version": 2}]}))

    state = load_state(tmp_path)

    assert state == SyncState(server="https://host", dataset="demo", release="2026-11", cursor=4,
                              trusted_keys={"0123456789abcdef": "AAAA"}, applied_version=2,
                              applied_manifest_sha256="e" * 64, history=[{"version": 2}])
    assert not (tmp_path / LEGACY_STATE_FILE).exists()
    assert load_state(tmp_path) == state


def test_it_keeps_unblocked_keys_until_blocked_again(tmp_path):
    from mirror_client.state import load_unblocked, record_unblocked

    assert record_unblocked(tmp_path, dataset="demo", release="2026-11", version=3,
                            unblocked={"00000": {"000001", "000002"}}, reblocked={}) == 2
    assert record_unblocked(tmp_path, dataset="demo", release="2026-11", version=4,
                            unblocked={}, reblocked={"00000": {"000002"}}) == 0

    assert load_unblocked(tmp_path)["shards"] == {"00000": {"000001": 3}}
