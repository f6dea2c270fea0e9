"""The client against the real host: Django live server, real publishing, key rotation, feed pruning."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from apps.blocklists.models import BlocklistVersion
from apps.core.actors import Actor
from apps.datasets import synthetic
from apps.mirrors.models import Acknowledgement
from apps.mirrors.services import feed_prune
from apps.removals.models import RemovalRequest, Status
from apps.removals.services import request_transition
from tests.support.events import run_pending

ROOT = Path(__file__).resolve().parents[2]


def client(live_server, token, data, command="sync", *extra):
    proc = subprocess.run(
        [sys.executable, "-m", "mirror_client", command, "--server", live_server.url, "--token", token,
         "--dataset", "demo", "--data", str(data), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    return proc


def remove(run_command, tmp_path, name, keys, category="copyright"):
    csv_path = synthetic.write_removals_csv(tmp_path / f"{name}.csv", [("key", k) for k in keys])
    out, _ = run_command("import_removals", str(csv_path), "--dataset", "demo", "--category", category, "--approve")
    return out.strip().splitlines()[-1]


@pytest.mark.django_db(transaction=True)
def test_it_follows_deltas_unblocks_rotations_and_resyncs_against_the_real_host(
        run_command, live_server, release_on_disk, release_copy, tmp_path, settings):
    run_command("import_release", "demo", "2026-11", str(release_on_disk.path), "--no-progress")
    out, _ = run_command("create_mirror", "lab-copy", "--subscribe", "demo")
    token = out.strip().splitlines()[-1]
    survivors = sorted(s.key for s in release_on_disk.data.successful())
    first, second, third, fourth = survivors[:2], survivors[2:3], survivors[3:4], survivors[4:5]

    tracking = remove(run_command, tmp_path, "first", first)
    proc = client(live_server, token, release_copy)
    assert proc.returncode == 0, proc.stderr
    assert "applied demo/2026-11 v1 (full)" in proc.stdout
    run_pending()  # what a worker does on mirror.acknowledged
    assert RemovalRequest.objects.get(tracking_id=tracking).status == Status.COMPLETED

    # The host rotates its key, then publishes v2: the client follows the signed rotation and applies the delta.
    run_command("rotate_signing_key", "--reason", "yearly")
    remove(run_command, tmp_path, "second", second)
    proc = client(live_server, token, release_copy)
    assert proc.returncode == 0, proc.stderr
    assert "rotation from a trusted key verified" in proc.stdout
    assert "applied demo/2026-11 v2 (delta): 1 sample removed from 1 shard" in proc.stdout
    state = json.loads((release_copy / ".takedown" / "state.json").read_text())
    assert len(state["trusted_keys"]) == 2

    # A counter-notice reinstates the first request: v3 un-blocks its keys, recorded for the operator.
    request_transition(request=RemovalRequest.objects.get(tracking_id=tracking), to=Status.REINSTATED,
                       actor=Actor.system(), reason="counter-notice upheld")
    run_pending()  # a worker publishes v3 without its samples, and announces it
    proc = client(live_server, token, release_copy)
    assert proc.returncode == 0, proc.stderr
    unblocked = json.loads((release_copy / ".takedown" / "unblocked.json").read_text())["shards"]
    assert sorted(k for keys in unblocked.values() for k in keys) == first
    ack = Acknowledgement.objects.get(blocklist__version=3)
    assert ack.status == "applied" and "2 keys un-blocked by the host" in ack.detail

    # Two more versions, then the feed is pruned past the mirror's cursor: 410, resync to the latest, full.
    remove(run_command, tmp_path, "third", third)
    remove(run_command, tmp_path, "fourth", fourth)
    settings.FEED_RETENTION_DAYS = 0
    assert feed_prune() > 0
    latest = BlocklistVersion.objects.order_by("-version").first().version
    proc = client(live_server, token, release_copy)
    assert proc.returncode == 0, proc.stderr
    assert "older than the feed's retention window" in proc.stdout
    assert f"applied demo/2026-11 v{latest} (full)" in proc.stdout
    assert set(Acknowledgement.objects.values_list("blocklist__version", flat=True)) == {1, 2, 3, latest}

    # The audit finds the copy clean, offline and against the server.
    proc = client(live_server, token, release_copy, "verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "clean" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "mirror_client", "verify", "--data", str(release_copy)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.django_db(transaction=True)
def test_a_sync_with_nothing_new_is_answered_not_modified(run_command, live_server, release_on_disk, release_copy,
                                                         tmp_path):
    run_command("import_release", "demo", "2026-11", str(release_on_disk.path), "--no-progress")
    out, _ = run_command("create_mirror", "lab-copy", "--subscribe", "demo")
    token = out.strip().splitlines()[-1]
    keys = sorted(s.key for s in release_on_disk.data.successful())
    remove(run_command, tmp_path, "first", keys[:1])
    assert client(live_server, token, release_copy).returncode == 0

    quiet = client(live_server, token, release_copy)  # nothing new: the empty page's ETag is kept
    again = client(live_server, token, release_copy)  # and sent: 304

    assert quiet.returncode == 0 and "feed: 0 new events" in quiet.stdout
    assert again.returncode == 0 and "nothing new after cursor" in again.stdout and "not modified" in again.stdout
    state = json.loads((release_copy / ".takedown" / "state.json").read_text())
    assert state["feed_etag"]["etag"].startswith('W/"')

    remove(run_command, tmp_path, "second", keys[1:2])  # something new: the same ETag no longer matches
    proc = client(live_server, token, release_copy)
    assert proc.returncode == 0 and "applied demo/2026-11 v2 (delta)" in proc.stdout
    assert json.loads((release_copy / ".takedown" / "state.json").read_text())["feed_etag"] is None
