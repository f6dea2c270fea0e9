"""The event outbox: recorded with the change, each handler run claimed once, retried, resumed, dead-lettered."""
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core.actors import Actor
from apps.core.errors import TakedownError
from apps.events import registry
from apps.events.models import Event, HandlerRun
from apps.events.services import event_record, events_drain, handler_run, runs_reconcile, runs_retry

pytestmark = pytest.mark.django_db
Status = HandlerRun.Status

PING = registry.declare("test.ping", "A test event.", producer="tests")
PONG = registry.declare("test.pong", "What the ping handler records.", producer="tests")
LONELY = registry.declare("test.lonely", "An event nobody subscribes to.", producer="tests")
calls: list[tuple[str, dict]] = []
behaviour: dict[str, object] = {}


@registry.subscribe(PING, name="tests.answer")
def answer(event):
    calls.append(("answer", event.payload))
    outcome = behaviour.get("answer")
    if isinstance(outcome, Exception):
        raise outcome
    event_record(PONG, key=str(event.pk), ping=event.pk)


@registry.subscribe(PING, name="tests.count")
def count(event):
    calls.append(("count", event.payload))


@registry.subscribe(PONG, name="tests.pong")
def pong(event):
    calls.append(("pong", event.payload))


@pytest.fixture(autouse=True)
def _fresh(settings):
    calls.clear()
    behaviour.clear()
    settings.EVENT_MAX_ATTEMPTS = 3


def _run(event, handler) -> HandlerRun:
    return HandlerRun.objects.get(event=event, handler=handler)


def test_it_records_a_run_for_each_subscriber_with_the_change():
    event = event_record(PING, n=1)
    assert event.payload == {"n": 1} and event.cause is None
    assert sorted(event.runs.values_list("handler", flat=True)) == ["tests.answer", "tests.count"]
    assert set(event.runs.values_list("status", flat=True)) == {Status.PENDING}
    assert event_record(LONELY).runs.count() == 0


def test_it_records_nothing_when_the_change_rolls_back():
    with pytest.raises(RuntimeError), transaction.atomic():
        event_record(PING, n=1)
        raise RuntimeError("the change failed")
    assert not Event.objects.exists() and not HandlerRun.objects.exists()


def test_an_undeclared_event_is_refused():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="not declared"):
        event_record("test.never-declared")


def test_a_keyed_event_is_recorded_once():
    first = event_record(PONG, key="k", n=1)
    again = event_record(PONG, key="k", n=2)
    assert again.pk == first.pk and again.payload == {"n": 1}
    assert HandlerRun.objects.filter(event=first).count() == 1


def test_a_run_is_claimed_once_and_done():
    event = event_record(PING, n=1)
    run = _run(event, "tests.count")
    assert handler_run(run_id=run.pk).status == Status.DONE
    assert handler_run(run_id=run.pk) is None  # done: a second message for it finds nothing to do
    run.refresh_from_db()
    assert run.attempts == 1 and run.finished_at and calls == [("count", {"n": 1})]


def test_events_a_handler_records_are_its_effects():
    event = event_record(PING, n=1)
    handler_run(run_id=_run(event, "tests.answer").pk)
    pong_event = Event.objects.get(name=PONG)
    assert pong_event.cause_id == event.pk and pong_event.payload == {"ping": event.pk}


def test_a_failing_handler_is_retried_with_backoff_then_dead():
    behaviour["answer"] = OSError("disk full")
    event = event_record(PING, n=1)
    run = _run(event, "tests.answer")
    before = timezone.now()
    assert handler_run(run_id=run.pk).status == Status.PENDING
    run.refresh_from_db()
    assert run.attempts == 1 and "OSError: disk full" in run.last_error and run.due_at > before
    assert handler_run(run_id=run.pk) is None  # not due yet
    assert handler_run(run_id=run.pk, force=True).status == Status.PENDING
    assert handler_run(run_id=run.pk, force=True).status == Status.DEAD
    run.refresh_from_db()
    assert run.attempts == 3 and run.last_error.startswith("gave up after 3 tries: OSError: disk full")
    assert not Event.objects.filter(name=PONG).exists()


def test_a_problem_for_a_person_is_dead_at_once():
    behaviour["answer"] = TakedownError("the release's index is missing")
    event = event_record(PING, n=1)
    assert handler_run(run_id=_run(event, "tests.answer").pk).status == Status.DEAD
    assert _run(event, "tests.answer").last_error == "the release's index is missing"


def test_a_lapsed_lease_is_handed_out_again_then_dead(settings):
    event = event_record(PING, n=1)
    run = _run(event, "tests.count")
    past = timezone.now() - timedelta(seconds=1)
    HandlerRun.objects.filter(pk=run.pk).update(status=Status.RUNNING, attempts=1, lease_until=past,
                                                worker="gone:1")
    assert runs_reconcile().lapsed == 1
    run.refresh_from_db()
    assert run.status == Status.PENDING and "the worker gone:1 stopped while running it" in run.last_error
    # A worker whose lease lapsed and that still holds no claim cannot record an outcome over the new one.
    HandlerRun.objects.filter(pk=run.pk).update(status=Status.RUNNING, attempts=3, lease_until=past)
    assert runs_reconcile().dead == 1
    assert _run(event, "tests.count").status == Status.DEAD


def test_a_live_lease_is_left_alone():
    event = event_record(PING, n=1)
    run = _run(event, "tests.count")
    HandlerRun.objects.filter(pk=run.pk).update(status=Status.RUNNING, attempts=1,
                                                lease_until=timezone.now() + timedelta(minutes=1))
    assert runs_reconcile().lapsed == 0
    assert handler_run(run_id=run.pk) is None  # and no second worker takes it
    assert _run(event, "tests.count").status == Status.RUNNING


def test_a_lapsed_lease_is_handed_out_by_the_reconciler_not_by_a_message_that_comes_back():
    event = event_record(PING, n=1)
    run = _run(event, "tests.count")
    HandlerRun.objects.filter(pk=run.pk).update(status=Status.RUNNING, attempts=1,
                                                lease_until=timezone.now() - timedelta(seconds=1))
    assert handler_run(run_id=run.pk) is None  # the dead worker's message, put back by the broker
    runs_reconcile()  # records why, and hands it out again
    assert handler_run(run_id=run.pk, force=True).status == Status.DONE
    run.refresh_from_db()
    assert run.attempts == 2 and "stopped while running it" in run.last_error


def test_lost_messages_are_sent_again_after_a_doubling_wait(settings):
    settings.EVENT_REDISPATCH_SECONDS = 30
    event = event_record(PING, n=1)
    now = timezone.now()
    assert runs_reconcile(now=now).redispatched == 0  # just sent: its message is surely still queued
    later = now + timedelta(seconds=31)
    assert runs_reconcile(now=later).redispatched == 2
    run = _run(event, "tests.count")
    assert run.dispatches == 2 and run.redispatch_at >= later + timedelta(seconds=60)
    assert runs_reconcile(now=later + timedelta(seconds=31)).redispatched == 0


def test_a_drain_runs_the_whole_chain_here():
    event = event_record(PING, n=1)
    drained = events_drain([event])
    assert [e.name for e in drained.events] == [PING, PONG] and not drained.unfinished
    assert sorted(c[0] for c in calls) == ["answer", "count", "pong"]


def test_a_drain_reports_what_failed_and_leaves_it_to_the_workers():
    behaviour["answer"] = OSError("disk full")
    drained = events_drain([event_record(PING, n=1)])
    [run] = drained.unfinished
    assert run.handler == "tests.answer" and run.status == Status.PENDING and "disk full" in run.last_error


def test_staff_retry_dead_runs_and_it_is_audited():
    behaviour["answer"] = TakedownError("storage misconfigured")
    event = event_record(PING, n=1)
    run = _run(event, "tests.answer")
    handler_run(run_id=run.pk)
    behaviour.clear()
    assert runs_retry(run_ids=[run.pk], actor=Actor(label="user:ops")) == 1
    run.refresh_from_db()
    assert run.status == Status.PENDING and run.attempts == 0
    audit = AuditEvent.objects.get(action="background.retried")
    assert audit.actor_label == "user:ops" and audit.after == {"runs": [f"tests.answer of event {event.pk}"]}
    assert handler_run(run_id=run.pk).status == Status.DONE
    assert runs_retry(run_ids=[run.pk], actor=Actor(label="user:ops")) == 0  # done runs are not redone


def test_a_run_whose_handler_is_gone_is_dead_with_the_reason():
    event = event_record(PING, n=1)
    run = _run(event, "tests.count")
    HandlerRun.objects.filter(pk=run.pk).update(handler="tests.renamed")
    assert handler_run(run_id=run.pk).status == Status.DEAD
    assert "no handler named 'tests.renamed'" in _run(event, "tests.renamed").last_error
