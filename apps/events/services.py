"""The outbox: recording events with the change that caused them, and running their handlers.

A handler run is claimed by one worker at a time with a conditional update,
held under a lease the worker renews while the handler runs, retried with
backoff when it fails and declared dead after EVENT_MAX_ATTEMPTS, for staff to
retry. The reconciler (on beat) hands out again the runs whose lease lapsed (a
worker that died) and re-sends the queue messages that were lost.
"""
import contextvars
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core import faults
from apps.core.actors import Actor
from apps.core.backoff import backoff_seconds
from apps.core.errors import TakedownError
from apps.events import registry
from apps.events.models import Event, HandlerRun, Heartbeat

logger = logging.getLogger(__name__)

# The Celery task that runs one handler run, sent by name: the task module calls these services.
RUN_TASK = "apps.events.tasks.handler_run_task"
# A run due this soon is taken now: a retry's timer may fire a moment before the time it was set for.
DUE_EARLY = timedelta(milliseconds=250)
Status = HandlerRun.Status
OPEN = (Status.PENDING, Status.RUNNING)

# The event whose handler is running in this thread: events recorded meanwhile are its effects.
_cause: contextvars.ContextVar[Event | None] = contextvars.ContextVar("takedown_event_cause", default=None)


def _lease() -> timedelta:
    return timedelta(seconds=settings.EVENT_LEASE_SECONDS)


def _redispatch_wait(dispatches: int) -> timedelta:
    return timedelta(seconds=min(settings.EVENT_REDISPATCH_SECONDS * 2 ** max(dispatches - 1, 0), 3600))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# ---------------------------------------------------------------- recording


def event_record(name: str, *, key: str = "", **payload) -> Event:
    """Record that something happened, in the caller's transaction, with a run for each subscribed handler.

    The handlers are queued once the transaction commits; if it rolls back,
    the event never happened. With `key`, the same (name, key) recorded again
    is the event already there, and nothing new runs.
    """
    return events_record(name, [payload], keys=[key])[0]


def events_record(name: str, payloads: list[dict], *, keys: list[str] | None = None) -> list[Event]:
    """event_record for many events of one name at once (one per shard of a release, say)."""
    keys = keys or [""] * len(payloads)
    with transaction.atomic(savepoint=False):
        return [event for start in range(0, len(payloads), _BATCH) for event in _record_batch(
            name, payloads[start:start + _BATCH], keys[start:start + _BATCH])]


# Events recorded per statement: well under the number of variables SQLite allows in one.
_BATCH = 2000


def _record_batch(name: str, payloads: list[dict], keys: list[str]) -> list[Event]:
    handlers = registry.handlers_for(name)
    cause = _cause.get()
    now = timezone.now()
    keyed = [k for k in keys if k]
    existing = {e.key: e for e in Event.objects.filter(name=name, key__in=keyed)} if keyed else {}
    new = [Event(name=name, payload=payload, key=key, cause=cause, created_at=now)
           for payload, key in zip(payloads, keys, strict=True) if not key or key not in existing]
    if keyed:
        # Another process may record the same keyed event at this moment: the unique key decides.
        Event.objects.bulk_create([e for e in new if e.key], ignore_conflicts=True)
        stored = {e.key: e for e in Event.objects.filter(name=name, key__in=[e.key for e in new if e.key])}
        created = [stored[e.key] for e in new if e.key] + Event.objects.bulk_create([e for e in new if not e.key])
    else:
        created = Event.objects.bulk_create(new)
    runs = [HandlerRun(event=event, handler=h.name, due_at=now, created_at=now, dispatches=1,
                       redispatch_at=now + _redispatch_wait(1))
            for event in created for h in handlers]
    if runs:
        HandlerRun.objects.bulk_create(runs, ignore_conflicts=bool(keyed))
        ids = list(HandlerRun.objects.filter(event__in=created, status=Status.PENDING, attempts=0)
                   .values_list("pk", flat=True)) if keyed else [r.pk for r in runs]
        transaction.on_commit(lambda: _dispatch(ids))
    by_key = {e.key: e for e in created if e.key} | existing
    made = iter(e for e in created if not e.key)
    return [by_key[key] if key else next(made) for key in keys]


def _dispatch(run_ids: list[int], *, countdown: float = 0.0) -> None:
    """Send a queue message per run; in eager mode run them here instead (no worker)."""
    faults.point("events.record.committed")  # the runs are in the database, their messages not yet sent
    if current_app.conf.task_always_eager:
        if not countdown:  # a retry is left to the reconciler or a drain: running it now would loop
            for pk in run_ids:
                handler_run(run_id=pk)
        return
    for pk in run_ids:
        try:
            current_app.send_task(RUN_TASK, args=[pk], countdown=countdown or None)
        except Exception:  # the broker is down: the run is in the database, and the reconciler sends it later
            logger.exception("could not queue handler run %s; the reconciler will", pk)


# ---------------------------------------------------------------- running


class _LeaseKeeper:
    """Renews a run's lease from a thread of its own while the handler runs (on its own connection)."""

    def __init__(self, run: HandlerRun):
        self.run, self.stopped = run, threading.Event()
        self.thread = threading.Thread(target=self._renew, name=f"lease-{run.pk}", daemon=True)
        self.thread.start()

    def _renew(self) -> None:
        every = max(settings.EVENT_LEASE_SECONDS / 3, 0.1)
        try:
            while not self.stopped.wait(every):
                HandlerRun.objects.filter(pk=self.run.pk, status=Status.RUNNING, attempts=self.run.attempts).update(
                    lease_until=timezone.now() + _lease())
        except Exception:  # the lease then lapses and the run is handed out again: safe, if slower
            logger.exception("could not renew the lease of handler run %s", self.run.pk)
        finally:
            connections.close_all()  # this thread's connections only

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)


def _claim(run_id: int, *, now, force: bool) -> bool:
    # A running run whose lease lapsed is not taken here even when its message comes back (a broker that put
    # back a dead worker's messages): the reconciler first records that its worker died, then hands it out.
    due = Q(status=Status.PENDING) if force else Q(status=Status.PENDING, due_at__lte=now + DUE_EARLY)
    return bool(HandlerRun.objects.filter(due, pk=run_id).update(
        status=Status.RUNNING, attempts=F("attempts") + 1, lease_until=now + _lease(), worker=worker_name(),
        started_at=now, finished_at=None))


def _finish(run: HandlerRun, status: str, error: str = "", *, retry_in: float | None = None) -> bool:
    """Record how a claimed run ended; False when the claim was lost meanwhile (its lease lapsed)."""
    now = timezone.now()
    fields = {"status": status, "lease_until": None, "finished_at": now}
    if error:  # a run done after a failure keeps it: staff see what it went through
        fields["last_error"] = error[:4000]
    if retry_in is not None:
        due = now + timedelta(seconds=retry_in)
        fields.update(due_at=due, dispatches=1, redispatch_at=due + _redispatch_wait(1), finished_at=None)
    mine = HandlerRun.objects.filter(pk=run.pk, status=Status.RUNNING, attempts=run.attempts)
    done = bool(mine.update(**fields))
    for name, value in fields.items():
        setattr(run, name, value)
    return done


def handler_run(*, run_id: int, force: bool = False) -> HandlerRun | None:
    """Claim a pending, due run and execute its handler; returns the run as it ended, or None when not claimed.

    `force` takes a pending run before its backoff is over (a drain). A
    TakedownError is a problem a person must fix, so the run is dead at once;
    any other error is retried with doubling backoff until EVENT_MAX_ATTEMPTS.
    """
    if not _claim(run_id, now=timezone.now(), force=force):
        return None
    faults.point("events.run.claimed")
    run = HandlerRun.objects.select_related("event").get(pk=run_id)
    found = registry.handler(run.event.name, run.handler)
    if found is None:
        _finish(run, Status.DEAD, f"no handler named {run.handler!r} subscribes to {run.event.name!r} any more")
        return run
    # Inside a caller's transaction (a test, a drain in an atomic block) nobody else sees the claim: no lease,
    # and a savepoint keeps a failing handler from breaking the caller's transaction.
    inline = connection.in_atomic_block
    keeper = None if inline else _LeaseKeeper(run)
    token = _cause.set(run.event)
    try:
        if inline:
            with transaction.atomic():
                found.func(run.event)
        else:
            found.func(run.event)
    except TakedownError as exc:
        logger.warning("%s gave up on event %s: %s", run.handler, run.event_id, exc)
        _finish(run, Status.DEAD, str(exc))
    except Exception as exc:
        logger.exception("%s failed on event %s (try %s)", run.handler, run.event_id, run.attempts)
        error = f"{type(exc).__name__}: {exc}"
        if run.attempts >= settings.EVENT_MAX_ATTEMPTS:
            _finish(run, Status.DEAD, f"gave up after {run.attempts} tries: {error}")
        else:
            wait = backoff_seconds(run.attempts, base=settings.EVENT_RETRY_BASE_SECONDS)
            if _finish(run, Status.PENDING, error, retry_in=wait) and not inline:
                _dispatch([run.pk], countdown=wait)
    else:
        faults.point("events.run.handled")
        _finish(run, Status.DONE)
    finally:
        _cause.reset(token)
        if keeper is not None:
            keeper.stop()
    return run


# ---------------------------------------------------------------- resuming


@dataclass
class Reconciled:
    lapsed: int = 0
    dead: int = 0
    redispatched: int = 0


def runs_reconcile(*, now=None, limit: int = 1000) -> Reconciled:
    """Hand out again what a dead worker or a lost message left: safe to run any number of times, anywhere.

    A running run whose lease lapsed goes back to pending after a backoff
    (dead after EVENT_MAX_ATTEMPTS tries); a pending run that is due and whose
    last queue message should long have been taken gets another message.
    """
    now = now or timezone.now()
    result = Reconciled()
    for run in HandlerRun.objects.filter(status=Status.RUNNING, lease_until__lt=now).order_by("pk")[:limit]:
        error = (f"the worker {run.worker} stopped while running it (its lease lapsed at "
                 f"{run.lease_until:%Y-%m-%d %H:%M:%S} UTC)")
        mine = HandlerRun.objects.filter(pk=run.pk, status=Status.RUNNING, attempts=run.attempts,
                                         lease_until__lt=now)
        if run.attempts >= settings.EVENT_MAX_ATTEMPTS:
            result.dead += mine.update(status=Status.DEAD, lease_until=None, finished_at=now,
                                       last_error=f"gave up after {run.attempts} tries: {error}")
            continue
        due = now + timedelta(seconds=backoff_seconds(run.attempts, base=settings.EVENT_RETRY_BASE_SECONDS))
        result.lapsed += mine.update(status=Status.PENDING, lease_until=None, due_at=due, redispatch_at=due,
                                     dispatches=0, last_error=error)
        faults.point("events.reconcile.lapsed")
    due = list(HandlerRun.objects.filter(status=Status.PENDING, due_at__lte=now)
               .filter(Q(redispatch_at__isnull=True) | Q(redispatch_at__lte=now))
               .order_by("due_at").values_list("pk", "dispatches")[:limit])
    sent = []
    for pk, dispatches in due:
        if HandlerRun.objects.filter(pk=pk, status=Status.PENDING, dispatches=dispatches).update(
                dispatches=dispatches + 1, redispatch_at=now + _redispatch_wait(dispatches + 1)):
            sent.append(pk)
    result.redispatched = len(sent)
    _dispatch(sent)
    return result


def runs_retry(*, run_ids: list[int], actor: Actor) -> int:
    """Try dead (or stuck pending) runs again now, from a fresh count of tries; audited. Returns how many."""
    now = timezone.now()
    with transaction.atomic():
        runs = HandlerRun.objects.filter(pk__in=run_ids, status__in=(Status.DEAD, Status.PENDING))
        ids = list(runs.values_list("pk", flat=True))
        if not ids:
            return 0
        HandlerRun.objects.filter(pk__in=ids).update(status=Status.PENDING, attempts=0, due_at=now, dispatches=1,
                                                      redispatch_at=now + _redispatch_wait(1), finished_at=None)
        audit_record(actor=actor, action="background.retried", after={
            "runs": [f"{r.handler} of event {r.event_id}" for r in HandlerRun.objects.filter(pk__in=ids)]})
        transaction.on_commit(lambda: _dispatch(ids))
    return len(ids)


def runs_give_up(*, run_ids: list[int], actor: Actor) -> int:
    """Dead-letter runs: stop retrying those waiting or retrying (or held by a worker that stopped reporting)
    and mark them dead, with who gave up, so they wait for staff (and runs_retry) instead of the queue.
    A run a live worker holds is left alone. Audited; returns how many."""
    now = timezone.now()
    with transaction.atomic():
        runs = HandlerRun.objects.filter(pk__in=run_ids).filter(
            Q(status=Status.PENDING) | Q(status=Status.RUNNING, lease_until__lt=now))
        given_up = []
        for run in runs:
            # Conditional, like a claim: a run a worker claimed meanwhile is left to it.
            if HandlerRun.objects.filter(pk=run.pk, status=run.status, attempts=run.attempts).update(
                    status=Status.DEAD, lease_until=None, finished_at=now, redispatch_at=None,
                    last_error=f"given up by {actor.label}" + (f"; before that: {run.last_error}"
                                                               if run.last_error else "")):
                given_up.append(run)
        if given_up:
            audit_record(actor=actor, action="background.given_up", after={
                "runs": [f"{r.handler} of event {r.event_id}" for r in given_up]})
    return len(given_up)


# ---------------------------------------------------------------- running in this process


@dataclass
class Drained:
    """What a drain saw: every event in the chain (causes first) and the runs it could not finish."""

    events: list[Event] = field(default_factory=list)
    unfinished: list[HandlerRun] = field(default_factory=list)

    def of(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]


def events_drain(events: list[Event], *, timeout: float = 3600.0) -> Drained:
    """Run here every handler of these events and of the events they cause, until none is left open.

    For commands that report what their change led to, and for tests. A run
    that a worker holds is waited for; a run that fails here is tried once
    and left to the workers (it is in `unfinished`, with its error).
    """
    ids = {e.pk for e in events if e is not None}
    failed: set[int] = set()
    deadline = time.monotonic() + timeout
    while True:
        while effects := set(Event.objects.filter(cause_id__in=ids).exclude(pk__in=ids).values_list("pk", flat=True)):
            ids |= effects
        open_runs = list(HandlerRun.objects.filter(event_id__in=ids, status__in=OPEN).order_by("pk"))
        waiting = [r for r in open_runs if r.pk not in failed]
        if not waiting or time.monotonic() > deadline:
            break
        ran = False
        for run in waiting:
            if run.status == Status.PENDING:
                ended = handler_run(run_id=run.pk, force=True)
                ran = ran or ended is not None
                if ended is not None and ended.status != Status.DONE:
                    failed.add(run.pk)
        if not ran:
            time.sleep(0.05)  # a worker holds them
    return Drained(events=list(Event.objects.filter(pk__in=ids).order_by("pk")),
                   unfinished=list(HandlerRun.objects.filter(event_id__in=ids).exclude(status=Status.DONE)
                                   .select_related("event").order_by("pk")))


# ---------------------------------------------------------------- signs of life


def heartbeat_record(*, kind: str, name: str, pid: int | None = None, stopped: bool = False) -> None:
    """Note that a background process is alive (or stopped cleanly)."""
    now = timezone.now()
    fields = {"kind": kind, "pid": pid, "seen_at": now, "stopped_at": now if stopped else None}
    updated = Heartbeat.objects.filter(name=name).update(**fields)
    if not updated:
        Heartbeat.objects.bulk_create([Heartbeat(name=name, started_at=now, **fields)], ignore_conflicts=True)
