"""Telling model owners of their advisories (an email, a Standard Webhooks POST), and staff of unanswered ones.

Each channel is told once per document version: the advisory row records the last version each was told of.
Messages carry counts and coarse categories only, never a sample key.
"""
import asyncio
import json
import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.advisories.models import Advisory
from apps.core import mail, net
from apps.core.errors import TakedownError
from apps.mirrors import transport
from apps.removals.deadlines import staff_addresses

logger = logging.getLogger(__name__)

# Answers worth trying again among the 4xx; any other 4xx is the receiver refusing for good.
_RETRYABLE_4XX = {408, 429}


class DeliveryFailed(Exception):
    """A webhook the receiver did not take yet: the event handler's retry sends it again."""


def api_url(advisory: Advisory) -> str:
    return f"{settings.PUBLIC_BASE_URL}/api/v1/models/{advisory.model.name}/advisories/{advisory.pk}"


def _summary(advisory: Advisory) -> dict:
    """What an owner is told: counts and coarse categories, the status and where to read and answer."""
    return {
        "advisory": advisory.advisory_id,
        "id": advisory.pk,
        "model": advisory.model.name,
        "dataset": advisory.release.dataset.name,
        "release": advisory.release.name,
        "blocklist_version": advisory.blocklist.version,
        "removed_count": advisory.removed_count,
        "categories": advisory.categories,
        "fixed_in": advisory.fixed_in,
        "deadline": advisory.deadline.isoformat(),
        "status": advisory.status,
        "document_version": advisory.document_version,
        "url": api_url(advisory),
    }


def _email_body(advisory: Advisory, event: str) -> str:
    by = ", ".join(f"{name} {count}" for name, count in advisory.categories.items()) or "none"
    what = "A new advisory" if event == "advisory.issued" else "An advisory was updated"
    return (f"{what} for your model {advisory.model.name}: {advisory.advisory_id} "
            f"(document version {advisory.document_version}).\n\n"
            f"{advisory.removed_count} of its training samples in {advisory.release} were removed "
            f"(by category: {by}); fixed in {advisory.fixed_in}.\n"
            f"Status: {advisory.status}. Please answer by {advisory.deadline:%Y-%m-%d %H:%M} UTC.\n\n"
            f"Read the signed document and answer with your model's token:\n  {api_url(advisory)}\n")


def _email(advisory: Advisory, event: str) -> None:
    version = advisory.document_version
    with transaction.atomic():
        # The claim and the mail together: a mail that cannot go out leaves the version unclaimed for the retry.
        if not Advisory.objects.filter(pk=advisory.pk, emailed_version__lt=version).update(emailed_version=version):
            return
        if not advisory.model.contact_email:
            return
        subject = f"Takedown advisory {advisory.advisory_id}: {advisory.removed_count} training samples removed"
        if not mail.send(to=[advisory.model.contact_email], subject=subject, body=_email_body(advisory, event)):
            raise DeliveryFailed(f"could not email the owner of {advisory.model.name}")


def _webhook(advisory: Advisory, event: str) -> None:
    model, version = advisory.model, advisory.document_version
    if not model.webhook_url or advisory.webhooked_version >= version:
        return
    payload = {"type": event, "timestamp": timezone.now().isoformat(), "data": {
        **_summary(advisory), "document": json.loads(bytes(advisory.document)), "signature": advisory.signature,
        "key_id": advisory.key_id}}
    try:
        # The same id for every try of a version: a receiver drops what it already has.
        outcome = asyncio.run(transport.post_signed_async(
            url=model.webhook_url, secret=model.webhook_secret, msg_id=f"advisory-{advisory.pk}-v{version}",
            payload=payload, timeout=settings.WEBHOOK_TIMEOUT_SECONDS))
    except net.Refused as exc:
        raise TakedownError(f"webhook of model {model.name} refused: {exc}") from None
    code = outcome.status_code
    if code is not None and 200 <= code < 300:
        Advisory.objects.filter(pk=advisory.pk, webhooked_version__lt=version).update(webhooked_version=version)
        return
    if code is not None and 400 <= code < 500 and code not in _RETRYABLE_4XX:
        raise TakedownError(f"webhook of model {model.name} refused advisory {advisory.advisory_id}: HTTP {code}")
    raise DeliveryFailed(f"webhook of model {model.name}: {outcome.error or f'HTTP {code}'}")


def _current(advisory_id: int, document_version: int) -> Advisory | None:
    """The advisory, unless gone or past this version: the newer version's event tells the owner then."""
    advisory = (Advisory.objects.select_related("model", "release__dataset", "blocklist")
                .filter(pk=advisory_id).first())
    return advisory if advisory is not None and advisory.document_version == document_version else None


def advisory_email(*, advisory_id: int, document_version: int, event: str) -> None:
    """Email the model's contact about one version of an advisory, once. Raises DeliveryFailed to be retried."""
    advisory = _current(advisory_id, document_version)
    if advisory is not None:
        _email(advisory, event)


def advisory_webhook(*, advisory_id: int, document_version: int, event: str) -> None:
    """POST the model's webhook about one version of an advisory until it takes it (the same webhook-id each
    try). Raises DeliveryFailed to be retried, TakedownError when the receiver refuses for good."""
    advisory = _current(advisory_id, document_version)
    if advisory is not None:
        _webhook(advisory, event)


# ---------------------------------------------------------------- escalation


def advisories_overdue(*, now: datetime | None = None):
    """Advisories still unanswered (affected) past their deadline and not escalated yet."""
    return Advisory.objects.filter(status=Advisory.Status.AFFECTED, deadline__lt=now or timezone.now(),
                                   escalated_at=None)


def advisories_escalate(*, now: datetime | None = None) -> int:
    """Email staff once about each advisory unanswered past its deadline (like overdue mirrors); returns how many.
    Safe to run any number of times: an escalated advisory records when, and a failed mail records nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        claimed = list(advisories_overdue(now=now).select_for_update()
                       .select_related("model", "release__dataset", "blocklist").order_by("deadline", "pk"))
        if not claimed:
            return 0
        Advisory.objects.filter(pk__in=[a.pk for a in claimed], escalated_at=None).update(escalated_at=now)
        lines = [f"{a.advisory_id}: {a.removed_count} samples removed from {a.release}, deadline "
                 f"{a.deadline:%Y-%m-%d %H:%M} UTC, owner {a.model.owner_org or '-'} "
                 f"<{a.model.contact_email or 'no email'}>" for a in claimed]
        if not mail.send(to=staff_addresses(),
                         subject=f"ESCALATED: Takedown: {len(lines)} model advisory(ies) unanswered past deadline",
                         body="No answer from these models' owners:\n\n" + "\n".join(lines) + "\n"):
            transaction.set_rollback(True)
            return 0
    return len(claimed)
