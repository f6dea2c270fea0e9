"""Giving up on background work (dead-letter): a reviewer stops a run that keeps waiting or retrying."""
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core.actors import Actor
from apps.events.models import HandlerRun
from apps.events.services import event_record, runs_give_up

pytestmark = pytest.mark.django_db


def test_a_reviewer_gives_up_on_a_retrying_run_from_the_admin(client, staff_with):
    event = event_record("request.received", request=999_999)
    run = event.runs.get(handler="matching.match_request")
    HandlerRun.objects.filter(pk=run.pk).update(attempts=3, last_error="OperationalError: database is locked")
    client.force_login(staff_with("clerk", "intake"))
    assert "give_up_selected" not in client.get("/admin/events/handlerrun/").content.decode()

    client.force_login(staff_with("rev", "reviewer"))
    response = client.post("/admin/events/handlerrun/", {"action": "give_up_selected", "_selected_action": [run.pk]},
                           follow=True)
    assert "Gave up on 1 run(s)" in response.content.decode()
    run.refresh_from_db()
    assert run.status == HandlerRun.Status.DEAD and run.redispatch_at is None
    assert run.last_error == "given up by user:rev; before that: OperationalError: database is locked"
    assert AuditEvent.objects.get(action="background.given_up").actor_label == "user:rev"

    response = client.post("/admin/events/handlerrun/", {"action": "give_up_selected", "_selected_action": [run.pk]},
                           follow=True)
    assert "Nothing given up" in response.content.decode()


def test_a_run_a_live_worker_holds_is_left_alone(operator):
    event = event_record("request.received", request=999_999)
    run = event.runs.get(handler="matching.match_request")
    now = timezone.now()
    HandlerRun.objects.filter(pk=run.pk).update(status="running", attempts=1, lease_until=now + timedelta(seconds=60))
    assert runs_give_up(run_ids=[run.pk], actor=Actor.system()) == 0
    HandlerRun.objects.filter(pk=run.pk).update(lease_until=now - timedelta(seconds=1))  # its worker died
    assert runs_give_up(run_ids=[run.pk], actor=Actor.system()) == 1
    run.refresh_from_db()
    assert run.status == HandlerRun.Status.DEAD and run.lease_until is None
