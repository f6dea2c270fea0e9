"""Reading the state of background work: what is waiting, failing or dead, and whether anyone works on it."""
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils import timezone

from apps.events.models import Event, HandlerRun, Heartbeat

Status = HandlerRun.Status


@dataclass
class Health:
    pending: int = 0
    retrying: int = 0
    running: int = 0
    dead: int = 0
    oldest_waiting: datetime | None = None
    workers: list[Heartbeat] = field(default_factory=list)
    workers_alive: int = 0
    reconciler_seen_at: datetime | None = None
    scheduler_alive: bool = False  # the reconciler ran within three of its intervals
    problems: list[str] = field(default_factory=list)


def _ago(moment: datetime, now: datetime) -> str:
    seconds = int((now - moment).total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def background_health(*, now: datetime | None = None) -> Health:
    """Counts of handler runs by state, the workers seen lately, and the problems staff must be told of.

    A worker is alive when it wrote its heartbeat within WORKER_STALE_SECONDS;
    the reconciler (run by beat) is late when it has not run for three of its
    intervals. Both show as problems within a minute by default.
    """
    now = now or timezone.now()
    counts = HandlerRun.objects.filter(status__in=(Status.PENDING, Status.RUNNING, Status.DEAD)).aggregate(
        pending=Count("pk", filter=Q(status=Status.PENDING, attempts=0)),
        retrying=Count("pk", filter=Q(status=Status.PENDING, attempts__gt=0)),
        running=Count("pk", filter=Q(status=Status.RUNNING)),
        dead=Count("pk", filter=Q(status=Status.DEAD)),
        oldest=Min("created_at", filter=Q(status__in=(Status.PENDING, Status.RUNNING))),
    )
    health = Health(pending=counts["pending"], retrying=counts["retrying"], running=counts["running"],
                    dead=counts["dead"], oldest_waiting=counts["oldest"])
    stale = now - timedelta(seconds=settings.WORKER_STALE_SECONDS)
    health.workers = list(Heartbeat.objects.filter(kind=Heartbeat.Kind.WORKER).order_by("-seen_at")[:20])
    health.workers_alive = sum(1 for w in health.workers if w.seen_at >= stale and w.stopped_at is None)
    reconciler = Heartbeat.objects.filter(kind=Heartbeat.Kind.SCHEDULER).order_by("-seen_at").first()
    health.reconciler_seen_at = reconciler.seen_at if reconciler else None

    waiting = health.pending + health.retrying + health.running
    if not health.workers_alive:
        last = health.workers[0].seen_at if health.workers else None
        since = f"none has reported for {_ago(last, now)}" if last else "none has ever reported"
        health.problems.append(
            f"No background worker is running ({since}): {waiting} task(s) wait, and approved removals are not "
            "published until one runs (`celery -A project worker --beat`; ./run starts one).")
    late = now - timedelta(seconds=3 * settings.RESUME_INTERVAL_SECONDS)
    health.scheduler_alive = health.reconciler_seen_at is not None and health.reconciler_seen_at >= late
    if health.workers_alive and not health.scheduler_alive:
        since = f"for {_ago(health.reconciler_seen_at, now)}" if health.reconciler_seen_at else "yet"
        health.problems.append(
            f"The scheduler (celery beat) has not run the reconciler {since}: work a crashed worker left is not "
            "resumed and periodic tasks do not run (start the worker with --beat, or run `celery -A project beat`).")
    if health.dead:
        health.problems.append(f"{health.dead} background task(s) failed for good and need staff: see "
                               "Background work > Handler runs (filter: dead), fix the cause and retry them.")
    return health


def runs_for_objects(*, key: str, ids: list[int]) -> list[HandlerRun]:
    """Handler runs of the events whose payload names one of these objects (e.g. key "request")."""
    events = Event.objects.filter(**{f"payload__{key}__in": ids})
    return list(HandlerRun.objects.filter(event__in=events).select_related("event").order_by("pk"))


def workers_alive(*, now: datetime | None = None) -> int:
    """Workers that wrote their heartbeat within WORKER_STALE_SECONDS and did not stop."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.WORKER_STALE_SECONDS)
    return Heartbeat.objects.filter(kind=Heartbeat.Kind.WORKER, seen_at__gte=stale, stopped_at=None).count()


@dataclass
class RunState:
    """Where one handler run stands, in words for staff."""

    run: HandlerRun
    state: str  # waiting, retrying, running, abandoned (its worker stopped reporting), dead, done
    text: str
    retryable: bool  # dead, or waiting/retrying (runs_retry takes those)
    give_up: bool  # runs_give_up takes it


def run_states(runs: list[HandlerRun], *, now: datetime | None = None) -> list[RunState]:
    """The state of each run: waiting since when, retrying with its last error, running on which worker,
    abandoned by a worker that stopped reporting, dead with its last error, or done."""
    now = now or timezone.now()
    out = []
    for run in runs:
        error = f": {run.last_error[:300]}" if run.last_error else ""
        if run.status == Status.DONE:
            state, text = "done", f"done {run.finished_at:%Y-%m-%d %H:%M:%S}" if run.finished_at else "done"
        elif run.status == Status.DEAD:
            state, text = "dead", f"after {run.attempts} tr{'y' if run.attempts == 1 else 'ies'}{error}"
        elif run.status == Status.RUNNING and run.lease_until and run.lease_until < now:
            state, text = "abandoned", (f"its worker {run.worker} stopped reporting at {run.lease_until:%H:%M:%S}: "
                                        "handed out again by the reconciler")
        elif run.status == Status.RUNNING:
            state, text = "running", f"running on {run.worker} since {run.started_at:%Y-%m-%d %H:%M:%S}"
        elif run.attempts:
            state, text = "retrying", (f"retrying: {run.attempts} tr{'y' if run.attempts == 1 else 'ies'} so far, "
                                       f"next at {run.due_at:%Y-%m-%d %H:%M:%S}; last error{error or ': none'}")
        else:
            state, text = "waiting", (f"waiting for a worker since {run.created_at:%Y-%m-%d %H:%M:%S} "
                                      f"({_ago(run.created_at, now)})")
        out.append(RunState(run=run, state=state, text=text, retryable=state in ("dead", "waiting", "retrying"),
                            give_up=state in ("waiting", "retrying", "abandoned")))
    return out
