"""Reading the audit trail."""
from dataclasses import dataclass

from apps.audit.models import AuditEvent, AuditHead
from apps.audit.services import GENESIS, event_hash


@dataclass
class ChainCheck:
    checked: int
    broken_at: int | None = None
    reason: str = ""


def audit_chain_verify() -> ChainCheck:
    """Walk the chain from the first event; report the first event that was altered or removed."""
    expected_prev = GENESIS
    checked = 0
    last = None
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.prev_hash != expected_prev:
            return ChainCheck(checked, event.id, "the event before it was altered or removed")
        recomputed = event_hash(
            prev_hash=event.prev_hash, created_at=event.created_at, actor_label=event.actor_label,
            action=event.action, object_type=event.object_type, object_id=event.object_id,
            object_repr=event.object_repr, before=event.before, after=event.after,
        )
        if recomputed != event.hash:
            return ChainCheck(checked, event.id, "its content does not match its hash")
        expected_prev = event.hash
        last = event
        checked += 1
    head = AuditHead.objects.filter(pk=1).first()
    if head is not None and head.last_hash != expected_prev:
        return ChainCheck(checked, head.last_id, "this newest event was removed (the chain ends earlier)")
    if head is not None and head.count != checked:
        return ChainCheck(checked, last.id if checked else 0, "events were removed or added outside the trail")
    return ChainCheck(checked)


def audit_events_for(obj) -> list[AuditEvent]:
    """Events about one object, newest first."""
    return list(AuditEvent.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk)))
