"""Outgoing email: reminders to staff, notices to requesters."""
import logging

from django.conf import settings
from django.core.mail import send_mail

logger = logging.getLogger(__name__)


def send(*, to: list[str], subject: str, body: str) -> bool:
    """Send a plain-text email; a failure is logged, never raised (the work it reports is already done)."""
    recipients = [address for address in to if address]
    if not recipients:
        return False
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=False)
    except OSError as exc:  # SMTP and file backends raise OSError subclasses
        logger.warning("could not send %r to %s: %s", subject, ", ".join(recipients), exc)
        return False
    return True
