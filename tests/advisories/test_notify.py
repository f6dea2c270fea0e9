"""Telling owners of each advisory version (email, signed webhook), once; escalating unanswered ones to staff."""
import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from apps.advisories.answers import advisory_answer, model_actor
from apps.advisories.handlers import email_owner, webhook_owner
from apps.advisories.models import Advisory
from apps.advisories.notify import advisories_escalate
from apps.advisories.services import model_register
from apps.advisories.tasks import advisory_escalations_task
from apps.core.identifiers import ParsedIdentifier
from apps.datasets.selectors import release_samples
from apps.events.models import Event, HandlerRun
from apps.events.services import events_drain, handler_run
from apps.removals.selectors import events_about
from apps.removals.services import request_approve, request_create
from tests.advisories.support import remove
from tests.support.events import run_pending

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys(release):
    return [s["key"] for s in release_samples(release=release, limit=10)]


@pytest.fixture
def hooked(release, operator, receiver, allow_loopback_webhooks):
    return model_register(name="clip", trained_on=[release], actor=operator, contact_email="ml@acme.example",
                          webhook_url=receiver.url)


def _owner_mail():
    return [m for m in mail.outbox if m.to == ["ml@acme.example"]]


def test_the_owner_is_emailed_counts_and_a_link_never_keys(hooked, release, keys, operator):
    remove(operator, release, keys[:3], category="csam")

    (sent,) = _owner_mail()
    advisory = Advisory.objects.get()
    assert advisory.advisory_id in sent.subject and "3 training samples" in sent.subject
    assert f"/api/v1/models/clip/advisories/{advisory.pk}" in sent.body
    assert "legal 3" in sent.body and "csam" not in sent.body
    assert not any(key in sent.body for key in keys[:3])
    assert hooked.token not in sent.body and hooked.webhook_secret not in sent.body


def test_the_webhook_is_signed_the_standard_webhooks_way(hooked, release, keys, operator, receiver):
    remove(operator, release, keys[:2])

    (hit,) = receiver.wait_for(1)
    advisory = Advisory.objects.get()
    payload = Webhook(hooked.webhook_secret).verify(hit.body, hit.headers)
    assert hit.headers["webhook-id"] == f"advisory-{advisory.pk}-v1"
    assert payload["type"] == "advisory.issued"
    data = payload["data"]
    assert (data["advisory"], data["removed_count"], data["document_version"]) == (advisory.advisory_id, 2, 1)
    assert data["document"] == json.loads(bytes(advisory.document)) and data["signature"] == advisory.signature
    assert not any(key.encode() in hit.body for key in keys[:2])
    assert Advisory.objects.get().webhooked_version == 1


def test_each_version_is_told_once(hooked, release, keys, operator, receiver):
    remove(operator, release, keys[:2])
    advisory = Advisory.objects.get()
    issued = Event.objects.get(name="advisory.issued")

    email_owner(issued)  # handlers run again after a crash
    webhook_owner(issued)
    assert len(_owner_mail()) == 1 and len(receiver.wait_for(1, timeout=0.5)) == 1

    advisory_answer(advisory=advisory, status="under_investigation", actor=model_actor(advisory.model))
    run_pending()
    email_owner(Event.objects.get(name="advisory.updated"))
    webhook_owner(Event.objects.get(name="advisory.updated"))

    assert len(_owner_mail()) == 2
    hits = receiver.wait_for(2)
    assert len(hits) == 2 and hits[1].headers["webhook-id"] == f"advisory-{advisory.pk}-v2"
    assert Webhook(hooked.webhook_secret).verify(hits[1].body, hits[1].headers)["data"]["status"] == (
        "under_investigation")
    # A superseded version's event tells nothing: the newer one did.
    email_owner(issued)
    webhook_owner(issued)
    assert len(_owner_mail()) == 2 and len(receiver.received) == 2


def _remove_undrained(operator, release, keys) -> list:
    """As support.remove, but a handler may be left unfinished (a receiver that fails): those runs."""
    request = request_create(category="copyright", actor=operator, dataset=release.dataset, release=release,
                             identifiers=[ParsedIdentifier(line=i, kind="key", value=k) for i, k in enumerate(keys, 2)])
    request_approve(request=request, actor=operator)
    return events_drain(events_about(request=request)).unfinished


def test_a_failed_webhook_is_retried_by_the_handler_with_the_same_id(hooked, release, keys, operator, receiver):
    receiver.statuses = [503]

    (run,) = _remove_undrained(operator, release, keys[:2])

    assert run.handler == "advisories.webhook_owner" and run.status == HandlerRun.Status.PENDING
    assert "HTTP 503" in run.last_error and Advisory.objects.get().webhooked_version == 0
    handler_run(run_id=run.pk, force=True)  # the event handler's own retry
    hits = receiver.wait_for(2)
    assert len(hits) == 2 and hits[0].headers["webhook-id"] == hits[1].headers["webhook-id"]
    assert HandlerRun.objects.get(pk=run.pk).status == HandlerRun.Status.DONE
    assert Advisory.objects.get().webhooked_version == 1
    assert len(_owner_mail()) == 1  # the mail went out once, though the handler ran twice


def test_a_receiver_that_refuses_for_good_is_not_retried(hooked, release, keys, operator, receiver):
    receiver.statuses = [410]

    (run,) = _remove_undrained(operator, release, keys[:2])

    assert run.status == HandlerRun.Status.DEAD and "HTTP 410" in run.last_error
    assert len(receiver.received) == 1


# ---------------------------------------------------------------- escalation


def test_an_unanswered_advisory_past_its_deadline_is_escalated_to_staff_once(release, keys, operator, staff_with):
    staff_with("legal1", "legal")
    model_register(name="clip", trained_on=[release], actor=operator)
    model_register(name="answered", trained_on=[release], actor=operator)
    remove(operator, release, keys[:2], category="ncii")
    answered = Advisory.objects.get(model__name="answered")
    advisory_answer(advisory=answered, status="deprecated", actor=model_actor(answered.model))
    mail.outbox.clear()

    assert advisories_escalate() == 0  # not past its deadline yet
    later = timezone.now() + timedelta(hours=5)  # ncii: 4 h
    assert advisories_escalate(now=later) == 1

    (sent,) = mail.outbox
    assert sent.to == ["legal1@host.example"] and sent.subject.startswith("ESCALATED")
    assert "TD-ADV-clip-" in sent.body and "answered" not in sent.body
    assert "ncii" not in sent.body and not any(key in sent.body for key in keys[:2])
    assert Advisory.objects.get(model__name="clip").escalated_at == later
    assert advisories_escalate(now=later + timedelta(days=1)) == 0
    advisory_escalations_task()
    assert len(mail.outbox) == 1


def test_an_escalation_mail_that_fails_is_tried_again(release, keys, operator, staff_with, settings):
    staff_with("legal1", "legal")
    model_register(name="clip", trained_on=[release], actor=operator)
    remove(operator, release, keys[:2])
    later = timezone.now() + timedelta(days=10)
    settings.EMAIL_BACKEND = "tests.advisories.test_notify.FailingBackend"

    assert advisories_escalate(now=later) == 0
    assert Advisory.objects.get().escalated_at is None
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert advisories_escalate(now=later) == 1


class FailingBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise OSError("mail server down")
