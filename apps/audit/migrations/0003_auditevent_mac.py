"""Anchor an existing trail outside the database: every event gets its MAC under the audit key, and the
checkpoint file its first line, the head as it stands.

The events' hashes are left as they were (the chain, and any break already
in it, stays as verify_audit saw it before); the MACs vouch for the trail
from this migration on, so run verify_audit before upgrading if you have
reason to doubt it.
"""
from django.db import migrations, models

from apps.audit.anchor import audit_key, checkpoint_append, event_mac

BATCH = 2000


def mac_existing_events(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    AuditHead = apps.get_model("audit", "AuditHead")
    if not AuditEvent.objects.exists():
        return
    key = audit_key()
    after = 0
    while True:
        batch = list(AuditEvent.objects.filter(pk__gt=after).order_by("pk").only("pk", "hash")[:BATCH])
        if not batch:
            break
        for event in batch:
            event.mac = event_mac(event_hash=event.hash, key=key)
        AuditEvent.objects.bulk_update(batch, ["mac"])
        after = batch[-1].pk
    head = AuditHead.objects.filter(pk=1).first()
    if head is None:  # a trail whose head was never written: its newest event is the head
        newest = AuditEvent.objects.order_by("-pk").first()
        head = AuditHead.objects.create(pk=1, last_id=newest.pk, last_hash=newest.hash,
                                        count=AuditEvent.objects.count())
    checkpoint_append(count=head.count, last_id=head.last_id, head_hash=head.last_hash,
                      holds=lambda digest: AuditEvent.objects.filter(hash=digest).exists())


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0002_audit_head"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="mac",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.RunPython(mac_existing_events, migrations.RunPython.noop),
    ]
