"""Writing the audit trail: append-only events chained by hash, each hash MACed with the audit key, and a
checkpoint of the head outside the database after every commit (apps.audit.anchor)."""
import hashlib
import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from apps.audit.anchor import checkpoint_append, event_mac
from apps.audit.models import AuditEvent, AuditHead
from apps.core.actors import Actor
from apps.core.locks import serialize

GENESIS = "0" * 64


def _jsonable(value):
    if value is None:
        return None
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def event_hash(*, prev_hash: str, created_at, actor_label: str, action: str, object_type: str,
               object_id: str, object_repr: str, before, after) -> str:
    """The digest that chains an event to the one before it (public: anyone can recompute it; the event's MAC
    under the audit key is what they cannot)."""
    body = {
        "prev_hash": prev_hash,
        "created_at": created_at.isoformat(),
        "actor": actor_label,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "object_repr": object_repr,
        "before": before,
        "after": after,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def audit_record(*, actor: Actor, action: str, obj: models.Model | None = None,
                 before: dict | None = None, after: dict | None = None) -> AuditEvent:
    """Append one event to the audit trail, in the caller's transaction.

    The new event links to the head's hash (the newest event written), not to
    whichever event is newest now: had the newest events been deleted, the
    chain shows the gap instead of closing over it. Once the transaction
    commits, the head is written to the checkpoint file.
    """
    with transaction.atomic(savepoint=False):
        serialize("audit-chain")
        head = AuditHead.objects.filter(pk=1).first()
        if head is None:  # the first event (a trail older than the head got one from its migration)
            last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
            head = AuditHead.objects.create(pk=1, last_hash=last or "", count=AuditEvent.objects.count())
        fields = {
            "prev_hash": head.last_hash or GENESIS,
            "created_at": timezone.now(),
            "actor_label": actor.label,
            "action": action,
            "object_type": obj._meta.label_lower if obj is not None else "",
            "object_id": str(obj.pk) if obj is not None else "",
            "object_repr": str(obj)[:300] if obj is not None else "",
            "before": _jsonable(before),
            "after": _jsonable(after),
        }
        digest = event_hash(**fields)
        event = AuditEvent.objects.create(actor=actor.user, hash=digest, mac=event_mac(event_hash=digest), **fields)
        AuditHead.objects.filter(pk=1).update(last_id=event.pk, last_hash=event.hash, count=models.F("count") + 1)
        # Robust: the change is committed by then, and a checkpoint that cannot be written is logged and made
        # up by the next one. A transaction of several events writes one: the others find it there.
        transaction.on_commit(audit_checkpoint, robust=True)
        return event


def audit_checkpoint() -> bool:
    """Write the committed head of the trail to the checkpoint file, unless a checkpoint as long is there.

    Runs after each commit that recorded events; reads the head as committed,
    so processes committing in any order only ever append a longer trail.
    """
    head = AuditHead.objects.filter(pk=1).values_list("count", "last_id", "last_hash").first()
    if head is None or not head[0]:
        return False
    count, last_id, last_hash = head
    return checkpoint_append(count=count, last_id=last_id, head_hash=last_hash,
                             holds=lambda digest: AuditEvent.objects.filter(hash=digest).exists())
