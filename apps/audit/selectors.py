"""Reading the audit trail."""
import hmac
import json
from dataclasses import dataclass, field

from apps.audit.anchor import Checkpoint, audit_key, checkpoint_latest, checkpoints_path, event_mac
from apps.audit.models import AuditEvent, AuditHead
from apps.audit.services import GENESIS, event_hash
from apps.audit.visibility import restricted
from apps.core import roles
from apps.core.errors import TakedownError


@dataclass
class ChainCheck:
    checked: int
    broken_at: int | None = None
    reason: str = ""
    checkpoint: Checkpoint | None = None

    @property
    def intact(self) -> bool:
        return not self.reason

    @property
    def message(self) -> str:
        """What verify_audit and the admin's page say."""
        if self.intact:
            return f"audit trail intact: {self.checked} events" + (
                f" ({self.checkpoint.label} recorded {self.checkpoint.count})" if self.checkpoint else "")
        if self.broken_at is None:
            return f"audit trail broken: {self.reason}"
        return (f"audit trail broken at event {self.broken_at}: {self.reason} "
                f"({self.checked} events before it are intact)")


@dataclass(frozen=True)
class _Witness:
    """Something that recorded the trail's length and head: the head row, or a checkpoint outside the database."""

    label: str
    count: int
    last_id: int
    head_hash: str


def audit_chain_verify() -> ChainCheck:
    """Walk the chain from the first event: every link, hash and MAC; then hold it against the head row and the
    newest checkpoint. Reports the first thing found altered or removed.

    The checkpoint and the head are read before the walk: events committed
    meanwhile only make the walked trail longer than they say, never shorter.
    """
    try:
        key = audit_key()
        checkpoint = checkpoint_latest()
    except TakedownError as exc:
        return ChainCheck(0, None, exc.message)
    head = AuditHead.objects.filter(pk=1).first()
    witnesses = [_Witness(checkpoint.label, checkpoint.count, checkpoint.last_id, checkpoint.head_hash)
                 if checkpoint else None,
                 _Witness("the head row", head.count, head.last_id, head.last_hash) if head else None]
    witnesses = [w for w in witnesses if w is not None and w.count]
    positions = {w.count for w in witnesses}
    seen: dict[int, tuple[int, str]] = {}  # position in the chain -> (event id, hash), for the witnesses

    expected_prev = GENESIS
    checked = 0
    last_id = None
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.prev_hash != expected_prev:
            return ChainCheck(checked, event.id, "the event before it was altered or removed", checkpoint)
        recomputed = event_hash(
            prev_hash=event.prev_hash, created_at=event.created_at, actor_label=event.actor_label,
            action=event.action, object_type=event.object_type, object_id=event.object_id,
            object_repr=event.object_repr, before=event.before, after=event.after,
        )
        if recomputed != event.hash:
            return ChainCheck(checked, event.id, "its content does not match its hash", checkpoint)
        if not event.mac:
            return ChainCheck(checked, event.id, "it has no MAC (written outside the product, or its MAC was "
                                                 "removed to pass as an event from before the audit key)", checkpoint)
        if not hmac.compare_digest(event.mac, event_mac(event_hash=event.hash, key=key)):
            return ChainCheck(checked, event.id, "its link does not verify with the audit key (edited, and hashes "
                                                 "recomputed without the key)" + (
                                                     "; or this is not the key the trail was written with: check "
                                                     "AUDIT_KEY and AUDIT_DIR" if checked == 0 else ""), checkpoint)
        expected_prev = event.hash
        checked += 1
        last_id = event.id
        if checked in positions:
            seen[checked] = (event.id, event.hash)

    for witness in witnesses:
        if checked < witness.count:
            lost = witness.count - checked
            ends = f"ends at event {last_id}" if checked else "holds no events"
            what = "every event was deleted" if not checked else (
                f"{lost} newest event{'s' if lost > 1 else ''} deleted")
            return ChainCheck(checked, None, f"the database {ends} but {witness.label} recorded {witness.count} "
                                             f"events, up to event {witness.last_id}: {what}", checkpoint)
        event_id, event_hash_at = seen[witness.count]
        if event_hash_at != witness.head_hash:
            return ChainCheck(checked, event_id, f"it is not the event {witness.label} recorded as number "
                                                 f"{witness.count} (the trail was cut back and written again)",
                              checkpoint)
    if checked and checkpoint is None:
        return ChainCheck(checked, None, f"there is no checkpoint file ({checkpoints_path()}) although the database "
                                         f"holds {checked} events, so deleted newest events cannot be ruled out: "
                                         "check AUDIT_DIR, or restore the file from a backup")
    return ChainCheck(checked, checkpoint=checkpoint)


def audit_events_for(obj) -> list[AuditEvent]:
    """Events about one object, newest first."""
    return list(AuditEvent.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk)))


@dataclass
class HistoryRow:
    """One audit event as an object's History page shows it to one staff member."""

    event: AuditEvent
    actor: str
    # (field, before, after) for each field the event names; empty when `masked` or when it names none.
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    masked: bool = False


@dataclass
class History:
    rows: list[HistoryRow]
    total: int
    masked: bool


def _shown(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _changes(before, after) -> list[tuple[str, str, str]]:
    if not isinstance(before, dict) or not isinstance(after, dict):
        return [("", _shown(before), _shown(after))] if before is not None or after is not None else []
    return [(name, _shown(before.get(name)), _shown(after.get(name))) for name in dict.fromkeys([*before, *after])]


def audit_history(*, obj, user, limit: int = 200) -> History:
    """An object's audit events, newest first (up to `limit`), as `user` may read them: for a csam or ncii request
    (apps.audit.visibility) staff without the restricted role see when and what was done, not who did it nor
    what it changed, exactly as the audit log masks them."""
    events = AuditEvent.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk)).order_by("-id")
    masked = (not roles.has_role(user, roles.RESTRICTED)
              and bool(restricted(obj._meta.label_lower, [str(obj.pk)])))
    rows = [HistoryRow(event=e, actor="(restricted)", masked=True) if masked else
            HistoryRow(event=e, actor=e.actor_label, changes=_changes(e.before or {}, e.after or {}))
            for e in events[:limit]]
    return History(rows=rows, total=events.count(), masked=masked)
