"""The state file: atomic, readable back, refused when damaged."""

import json

import pytest

from mirror_client import SyncState, load_state, save_state
from mirror_client.errors import StateError
from mirror_client.state import HISTORY_LIMIT, STATE_FILE


def test_it_reads_back_what_it_saved(tmp_path):
    state = SyncState(server="https://host", dataset="demo", release="2026-11", cursor=12,
                      public_keys={"0123456789abcdef": "AAAA"}, applied_version=3,
                      applied_manifest_sha256="e" * 64)

    save_state(tmp_path, state)

    assert load_state(tmp_path) == state
    saved = json.loads((tmp_path / STATE_FILE).read_text())
    assert saved["format"] == "takedown.mirror-state/1"
    assert saved["applied_version"] == 3
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]  # no temporary file left


def test_it_has_no_state_before_the_first_sync(tmp_path):
    assert load_state(tmp_path) is None


def test_it_keeps_a_short_history(tmp_path):
    state = SyncState(server="https://host", dataset="demo")
    for version in range(1, HISTORY_LIMIT + 6):
        state.add_history({"version": version})

    assert len(state.history) == HISTORY_LIMIT
    assert state.history[-1] == {"version": HISTORY_LIMIT + 5}


def test_it_refuses_a_damaged_state_file(tmp_path):
    (tmp_path / STATE_FILE).write_text("{not json")

    with pytest.raises(StateError, match="is damaged"):
        load_state(tmp_path)
