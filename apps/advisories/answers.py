"""A model owner's answer to an advisory: the document is re-signed with the new status, and the owner told."""
from django.db import transaction
from django.utils import timezone

from apps.advisories.models import Advisory
from apps.advisories.services import _sign, advisory_updated_record
from apps.audit.services import audit_record
from apps.core.actors import Actor
from apps.core.errors import TakedownError
from apps.datasets.models import Release
from apps.datasets.selectors import release_get

ANSWERS = ("under_investigation", "fixed", "not_affected", "deprecated")
# OpenVEX v0.2.0's justifications of not_affected.
JUSTIFICATIONS = ("component_not_present", "vulnerable_code_not_present", "vulnerable_code_not_in_execute_path",
                  "vulnerable_code_cannot_be_controlled_by_adversary", "inline_mitigations_already_exist")
NOTE_MAX = 2000


def model_actor(model) -> Actor:
    """Who an owner's token acts as in the audit log (as mirrors do: `mirror:NAME`)."""
    return Actor(label=f"model:{model.name}")


def _field_error(field: str, message: str) -> TakedownError:
    return TakedownError(f"{field}: {message}", details=[f"{field}: {message}"])


def _retrained_release(advisory: Advisory, value: str) -> Release:
    """The release a fixed model was retrained on: a later, ready release of the advisory's dataset."""
    dataset, slash, name = value.strip().partition("/")
    if not slash or not dataset or not name:
        raise _field_error("retrained_on", f"give the release as DATASET/RELEASE, not {value[:100]!r}")
    try:
        release = release_get(dataset=dataset, release=name)
    except TakedownError as exc:
        raise _field_error("retrained_on", exc.message) from None
    affected = advisory.release
    if release.dataset_id != affected.dataset_id:
        raise _field_error("retrained_on", f"{release} is not a release of {affected.dataset.name}, the dataset "
                                           f"this advisory is about")
    if release.pk == affected.pk or release.imported_at <= affected.imported_at:
        raise _field_error("retrained_on", f"{release} is not a later release than {affected}, which still has "
                                           f"the removed samples")
    if release.status != Release.Status.READY:
        raise _field_error("retrained_on", f"{release} is not ready (it is {release.status})")
    return release


def advisory_answer(*, advisory: Advisory, status: str, actor: Actor, justification: str = "",
                    retrained_on: str = "", note: str = "") -> Advisory:
    """Record a model owner's answer to an advisory: under_investigation, fixed (retrained on a later ready release
    of the same dataset), not_affected (with an OpenVEX justification) or deprecated. The document is re-signed
    with the new status and a new version, audited, and advisory.updated recorded (the owner is told of it)."""
    if status not in ANSWERS:
        raise _field_error("status", f"must be one of {', '.join(ANSWERS)}, not {status!r}")
    justification = justification or ""
    if status == "not_affected" and justification not in JUSTIFICATIONS:
        raise _field_error("justification", f"not_affected needs one of {', '.join(JUSTIFICATIONS)}"
                                            + (f", not {justification[:80]!r}" if justification else ""))
    if status != "not_affected" and justification:
        raise _field_error("justification", "only a not_affected answer has one")
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise _field_error("note", f"at most {NOTE_MAX} characters, not {len(note)}")
    release = None
    if status == "fixed":
        if not retrained_on:
            raise _field_error("retrained_on", "a fixed answer names the release the model was retrained on "
                                               "(DATASET/RELEASE)")
        release = _retrained_release(advisory, retrained_on)
    elif retrained_on:
        raise _field_error("retrained_on", "only a fixed answer names a release")
    with transaction.atomic():
        locked = Advisory.objects.select_for_update(of=("self",)).select_related(
            "model", "release__dataset", "blocklist", "answer_retrained_on__dataset").get(pk=advisory.pk)
        before = {"status": locked.status, "justification": locked.answer_justification,
                  "retrained_on": str(locked.answer_retrained_on or ""), "note": locked.answer_note,
                  "document_version": locked.document_version}
        locked.status, locked.answer_justification, locked.answer_note = status, justification, note
        locked.answer_retrained_on = release
        locked.answered_at = timezone.now()
        locked.document_version += 1
        _sign(locked)
        locked.save()
        audit_record(actor=actor, action="advisory.answered", obj=locked, before=before, after={
            "status": status, "justification": justification, "retrained_on": str(release or ""), "note": note,
            "document_version": locked.document_version, "key_id": locked.key_id})
        advisory_updated_record(locked)
    return locked
