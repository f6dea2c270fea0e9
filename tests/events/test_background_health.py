"""Staff see background work: what waits, retries or died, and a banner when no worker or scheduler runs."""
import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core.errors import TakedownError
from apps.events import registry
from apps.events.models import HandlerRun, Heartbeat
from apps.events.selectors import background_health
from apps.events.services import event_record, handler_run, heartbeat_record
from tests.support.workers import wait_for

FAIL = registry.declare("test.health", "A test event whose handler gives up.", producer="tests")


@registry.subscribe(FAIL, name="tests.gives_up")
def gives_up(event):
    raise TakedownError("the release's index is missing")


def _banner(client) -> str:
    html = client.get("/admin/").content.decode()
    start = html.find('id="background-banner"')
    return "" if start < 0 else html[start:html.find("</ul>", start)]


@pytest.mark.django_db
def test_with_no_worker_ever_seen_every_admin_page_says_so(client, staff_with):
    client.force_login(staff_with("clerk", "intake"))
    assert "No background worker is running (none has ever reported)" in _banner(client)
    assert "No background worker" in client.get("/admin/removals/removalrequest/").content.decode()


@pytest.mark.django_db
def test_a_live_worker_and_scheduler_clear_the_banner(client, staff_with):
    heartbeat_record(kind=Heartbeat.Kind.WORKER, name="worker:celery@host", pid=1)
    heartbeat_record(kind=Heartbeat.Kind.SCHEDULER, name="reconciler")
    client.force_login(staff_with("clerk", "intake"))
    assert _banner(client) == ""


@pytest.mark.django_db
def test_a_worker_without_the_scheduler_is_named(settings):
    heartbeat_record(kind=Heartbeat.Kind.WORKER, name="worker:celery@host", pid=1)
    [problem] = background_health().problems
    assert problem.startswith("The scheduler (celery beat) has not run the reconciler yet")
    stale = timezone.now() + timezone.timedelta(seconds=settings.WORKER_STALE_SECONDS + 1)
    assert background_health(now=stale).problems[0].startswith("No background worker is running (none has reported")


@pytest.mark.django_db
def test_dead_runs_are_shown_by_state_and_retried_by_a_reviewer(client, staff_with):
    event = event_record(FAIL, release=7)
    [run] = event.runs.all()
    handler_run(run_id=run.pk)
    heartbeat_record(kind=Heartbeat.Kind.WORKER, name="worker:celery@host", pid=1)
    heartbeat_record(kind=Heartbeat.Kind.SCHEDULER, name="reconciler")
    assert background_health().dead == 1

    clerk = staff_with("clerk", "intake")
    client.force_login(clerk)
    assert "1 background task(s) failed for good" in _banner(client)
    page = client.get("/admin/events/handlerrun/?state=dead").content.decode()
    assert "tests.gives_up" in page and "the release&#x27;s index is missing" in page
    assert "retry_selected" not in page  # intake staff look; reviewers retry

    client.force_login(staff_with("rev", "reviewer"))
    response = client.post("/admin/events/handlerrun/", {"action": "retry_selected", "_selected_action": [run.pk]},
                           follow=True)
    assert "Queued 1 run(s) again." in response.content.decode()
    run.refresh_from_db()
    assert run.status == HandlerRun.Status.PENDING and run.attempts == 0
    assert AuditEvent.objects.get(action="background.retried").actor_label == "user:rev"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_shows_as_a_banner(start_worker, client, staff, settings):
    settings.WORKER_STALE_SECONDS = 3
    client.force_login(staff)  # a superuser: a transactional test has no role groups (their migration's rows go)
    assert "No background worker is running" in _banner(client)
    worker = start_worker("watched", beat=True, env={"WORKER_HEARTBEAT_SECONDS": "1", "RESUME_INTERVAL_SECONDS": "1"})
    assert wait_for(lambda: _banner(client) == "", timeout=60, workers=[worker]), _banner(client)
    assert Heartbeat.objects.get(kind="worker").name.startswith("worker:watched@")

    worker.kill()
    assert wait_for(lambda: "No background worker is running (none has reported for" in _banner(client),
                    timeout=10), _banner(client)
