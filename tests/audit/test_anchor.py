"""The audit trail is anchored outside the database: whoever can write the database cannot rewrite history.

These tests commit for real (transaction=True): checkpoints are written after
each commit, as in production.
"""
import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management.base import CommandError

from apps.audit.anchor import audit_key, checkpoint_latest, checkpoints_path, event_mac, key_id
from apps.audit.models import AuditEvent, AuditHead
from apps.audit.services import audit_record, event_hash
from apps.core.actors import Actor
from tests.support.workers import database_url

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def trail():
    """Six events, each written in a transaction of its own."""
    actor = Actor(label="user:alice")
    for i in range(6):
        audit_record(actor=actor, action="request.approved", before={"status": "received"},
                     after={"status": "approved", "n": i})
    return list(AuditEvent.objects.order_by("id"))


def _fields(event: AuditEvent) -> dict:
    return {"created_at": event.created_at, "actor_label": event.actor_label, "action": event.action,
            "object_type": event.object_type, "object_id": event.object_id, "object_repr": event.object_repr,
            "before": event.before, "after": event.after}


def _rewrite(trail, index: int, *, mac=lambda event_hash: None, **changes) -> None:
    """What someone with the database can do: edit one event and recompute every hash after it with the
    product's own (public) function; `mac` says what they put in each MAC column (None: leave it)."""
    prev = trail[index - 1].hash if index else "0" * 64
    for position, event in enumerate(trail[index:]):
        fields = {**_fields(event), **(changes if position == 0 else {})}
        digest = event_hash(prev_hash=prev, **fields)
        update = {**fields, "prev_hash": prev, "hash": digest}
        if mac(digest) is not None:
            update["mac"] = mac(digest)
        AuditEvent.objects.filter(pk=event.pk).update(**update)
        prev = digest
    AuditHead.objects.filter(pk=1).update(last_hash=prev)


def _verify_fails(run_command, pattern: str) -> None:
    with pytest.raises(CommandError, match=pattern):
        run_command("verify_audit")


def test_it_vouches_for_an_untouched_trail_and_keeps_its_checkpoints_outside_the_database(trail, run_command):
    out, _ = run_command("verify_audit")

    assert "audit trail intact: 6 events (the checkpoint of " in out and "recorded 6)" in out
    lines = checkpoints_path().read_text().splitlines()
    assert [json.loads(line)["count"] for line in lines] == [1, 2, 3, 4, 5, 6]  # one per commit
    assert json.loads(lines[-1])["hash"] == trail[-1].hash and json.loads(lines[-1])["last_id"] == trail[-1].pk
    key_file = Path(settings.AUDIT_DIR) / "audit.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert trail[-1].mac == event_mac(event_hash=trail[-1].hash) != ""


def test_it_names_an_edited_middle_event(trail, run_command):
    AuditEvent.objects.filter(pk=trail[2].pk).update(after={"status": "rejected"})
    _verify_fails(run_command, f"broken at event {trail[2].pk}: its content does not match its hash")


def test_it_names_the_event_after_a_deleted_middle_one(trail, run_command):
    AuditEvent.objects.filter(pk=trail[2].pk).delete()
    _verify_fails(run_command, f"broken at event {trail[3].pk}: the event before it was altered or removed")


def test_it_catches_the_newest_events_deleted_with_the_head(trail, run_command):
    AuditEvent.objects.filter(pk__in=[e.pk for e in trail[4:]]).delete()
    AuditHead.objects.all().delete()

    _verify_fails(run_command, f"the database ends at event {trail[3].pk} but the checkpoint of .* UTC recorded 6 "
                               f"events, up to event {trail[5].pk}: 2 newest events deleted")


def test_it_catches_the_newest_events_deleted_with_the_head_rewound(trail, run_command):
    AuditEvent.objects.filter(pk=trail[5].pk).delete()
    AuditHead.objects.filter(pk=1).update(count=5, last_id=trail[4].pk, last_hash=trail[4].hash)

    _verify_fails(run_command, f"the database ends at event {trail[4].pk} but the checkpoint of .* recorded 6 "
                               f"events, up to event {trail[5].pk}: 1 newest event deleted")


def test_it_catches_every_event_deleted_with_the_head(trail, run_command):
    AuditEvent.objects.all().delete()
    AuditHead.objects.all().delete()

    _verify_fails(run_command, f"the database holds no events but the checkpoint of .* recorded 6 events, up to "
                               f"event {trail[5].pk}: every event was deleted")


def test_it_catches_a_trail_cut_back_and_written_again(trail, run_command):
    AuditEvent.objects.filter(pk__in=[e.pk for e in trail[3:]]).delete()
    AuditHead.objects.filter(pk=1).update(count=3, last_id=trail[2].pk, last_hash=trail[2].hash)
    # The product goes on writing, with the key, after the cut: the trail is as long again and links up.
    for i in range(5):
        audit_record(actor=Actor(label="user:bob"), action="request.rejected", after={"n": i})

    # No checkpoint blessed the new history: the file still ends at the old head.
    assert checkpoint_latest().count == 6
    new = list(AuditEvent.objects.order_by("id"))
    _verify_fails(run_command, f"broken at event {new[5].pk}: it is not the event the checkpoint of .* recorded as "
                               "number 6 \\(the trail was cut back and written again\\)")


def test_it_catches_an_edit_with_every_hash_recomputed_by_the_products_function(trail, run_command):
    _rewrite(trail, 2, after={"status": "rejected"})

    _verify_fails(run_command, f"broken at event {trail[2].pk}: its link does not verify with the audit key "
                               r"\(edited, and hashes recomputed without the key\) \(2 events before it are intact\)")


def test_it_catches_a_rewrite_that_drops_the_macs_as_if_before_the_key(trail, run_command):
    _rewrite(trail, 1, mac=lambda digest: "", actor_label="user:mallory")

    _verify_fails(run_command, f"broken at event {trail[1].pk}: it has no MAC")


def test_it_catches_a_rewrite_maced_with_another_key(trail, run_command):
    _rewrite(trail, 3, mac=lambda digest: event_mac(event_hash=digest, key=b"m" * 64), action="request.rejected")

    _verify_fails(run_command, f"broken at event {trail[3].pk}: its link does not verify with the audit key")


def test_it_catches_an_edited_checkpoint_file(trail, run_command):
    path = checkpoints_path()
    lines = path.read_text().splitlines()
    forged = json.loads(lines[-1]) | {"count": 4}
    path.write_text("\n".join([*lines[:-1], json.dumps(forged)]) + "\n")

    _verify_fails(run_command, f"{path} line 6 does not verify with the audit key \\(the file was edited\\)")


def test_a_process_with_another_key_is_told_so(trail, run_command, settings):
    written_with = key_id()
    settings.AUDIT_KEY = "another key that is at least 32 characters long"

    _verify_fails(run_command, f"line 1 was written with audit key {written_with}, but this process has key "
                               f"{key_id()}: check AUDIT_KEY and AUDIT_DIR")


def test_events_without_a_checkpoint_file_are_not_vouched_for(trail, run_command):
    checkpoints_path().unlink()
    _verify_fails(run_command, "there is no checkpoint file .* although the database holds 6 events")


def test_audit_key_from_the_environment_is_used_and_no_key_file_made(run_command, settings):
    settings.AUDIT_KEY = "k" * 40
    audit_record(actor=Actor(label="user:alice"), action="request.approved")

    event = AuditEvent.objects.get()
    assert event.mac == event_mac(event_hash=event.hash, key=b"k" * 40)
    assert not (Path(settings.AUDIT_DIR) / "audit.key").exists()
    assert "audit trail intact: 1 events" in run_command("verify_audit")[0]


def test_a_trail_written_by_several_processes_at_once_verifies(run_command):
    script = textwrap.dedent("""
        import sys
        import django
        django.setup()
        from apps.audit.services import audit_record
        from apps.core.actors import Actor
        for i in range(40):
            audit_record(actor=Actor(label=f"worker:{sys.argv[1]}"), action="test.concurrent", after={"i": i})
    """)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings", "DATABASE_URL": database_url(),
           "DATA_DIR": str(settings.DATA_DIR), "AUDIT_DIR": str(settings.AUDIT_DIR)}
    audit_key()  # made here first, as by the web process that ran first
    processes = [subprocess.Popen([sys.executable, "-c", script, str(n)], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for n in range(4)]
    for process in processes:
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, output

    assert AuditEvent.objects.count() == 160
    out, _ = run_command("verify_audit")
    assert "audit trail intact: 160 events" in out and "recorded 160)" in out
    counts = [json.loads(line)["count"] for line in checkpoints_path().read_text().splitlines()]
    assert counts == sorted(set(counts)) and counts[-1] == 160  # only ever longer, never interleaved



def test_a_checkpoint_line_a_crash_left_half_written_is_passed_over_then_cut_off(trail, run_command):
    path = checkpoints_path()
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"at": "2026-12-05T07:10:03.000000Z", "cou')

    assert "audit trail intact: 6 events" in run_command("verify_audit")[0]
    audit_record(actor=Actor(label="user:bob"), action="request.rejected")
    assert path.read_bytes().startswith(whole) and path.read_bytes().endswith(b"\n")
    assert [json.loads(line)["count"] for line in path.read_text().splitlines()][-2:] == [6, 7]
    assert "audit trail intact: 7 events" in run_command("verify_audit")[0]
