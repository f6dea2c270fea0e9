"""A trail written before the audit key existed is anchored by the migration that brings the key in."""
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from apps.audit.anchor import checkpoints_path, event_mac
from apps.audit.models import AuditEvent
from apps.audit.services import GENESIS, audit_record, event_hash
from apps.core.actors import Actor

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE_KEY = ("audit", "0002_audit_head")


@pytest.fixture
def at_previous_version():
    """The audit tables as they were before the key; migrated forward again whatever the test does."""
    call_command("migrate", *BEFORE_KEY, verbosity=0)
    yield MigrationExecutor(connection).loader.project_state([BEFORE_KEY]).apps
    call_command("migrate", verbosity=0)  # every app: going back unapplied the migrations that depend on audit


def _legacy_trail(apps, count: int) -> list[str]:
    """Events as the previous version wrote them: hash-chained, no MAC, a head row."""
    Event, Head = apps.get_model("audit", "AuditEvent"), apps.get_model("audit", "AuditHead")
    prev, start = GENESIS, timezone.now() - timedelta(days=30)
    for i in range(count):
        fields = {"created_at": start + timedelta(hours=i), "actor_label": "user:alice", "action": "request.approved",
                  "object_type": "removals.removalrequest", "object_id": str(i), "object_repr": f"TD-{i}",
                  "before": {"status": "received"}, "after": {"status": "approved"}}
        event = Event.objects.create(prev_hash=prev, hash=event_hash(prev_hash=prev, **fields), **fields)
        prev = event.hash
    Head.objects.create(pk=1, last_id=event.pk, last_hash=prev, count=count)
    return [e.hash for e in Event.objects.order_by("id")]


def test_the_migration_anchors_an_existing_trail_that_then_verifies(at_previous_version, run_command):
    hashes = _legacy_trail(at_previous_version, 5)

    call_command("migrate", verbosity=0)  # every app: going back unapplied the migrations that depend on audit

    events = list(AuditEvent.objects.order_by("id"))
    assert [e.hash for e in events] == hashes  # the chain as it was: nothing rewritten
    assert all(e.mac == event_mac(event_hash=e.hash) for e in events)
    (line,) = checkpoints_path().read_text().splitlines()
    assert json.loads(line)["count"] == 5 and json.loads(line)["hash"] == hashes[-1]
    out, _ = run_command("verify_audit")
    assert "audit trail intact: 5 events" in out

    # The trail goes on from the migrated head, and a later cut is caught by the migration's checkpoint.
    audit_record(actor=Actor(label="user:bob"), action="request.rejected")
    assert "audit trail intact: 6 events" in run_command("verify_audit")[0]
    AuditEvent.objects.filter(pk__in=[e.pk for e in events[3:]]).delete()
    AuditEvent.objects.filter(action="request.rejected").delete()
    with pytest.raises(CommandError, match="the database ends at event .* recorded 6 events.*: 3 newest events"):
        run_command("verify_audit")


def test_a_legacy_event_rewritten_after_the_migration_is_caught(at_previous_version, run_command):
    _legacy_trail(at_previous_version, 3)
    call_command("migrate", verbosity=0)  # every app: going back unapplied the migrations that depend on audit

    first = AuditEvent.objects.order_by("id").first()
    fields = {name: getattr(first, name) for name in ("created_at", "actor_label", "action", "object_type",
                                                      "object_id", "object_repr", "before", "after")}
    prev = GENESIS
    for event in AuditEvent.objects.order_by("id"):  # the old unkeyed function, every hash recomputed
        values = {**({name: getattr(event, name) for name in fields}), "prev_hash": prev}
        if event.pk == first.pk:
            values["after"] = {"status": "rejected"}
        digest = event_hash(**values)
        AuditEvent.objects.filter(pk=event.pk).update(after=values["after"], prev_hash=prev, hash=digest)
        prev = digest

    with pytest.raises(CommandError, match=f"broken at event {first.pk}: its link does not verify with the audit key"):
        run_command("verify_audit")


def test_an_empty_trail_migrates_without_a_key_or_checkpoint(at_previous_version, run_command):
    call_command("migrate", verbosity=0)  # every app: going back unapplied the migrations that depend on audit

    assert not checkpoints_path().exists()
    assert "audit trail intact: 0 events" in run_command("verify_audit")[0]
