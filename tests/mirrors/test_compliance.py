"""Acknowledgement deadlines: lag, time to acknowledge, overdue and escalated mirrors, and the daily reminders."""
import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.blocklists.models import BlocklistVersion
from apps.core.actors import Actor
from apps.mirrors.deadlines import ack_reminders_send, deadline_seconds, mirror_compliance
from apps.mirrors.models import Acknowledgement, AckReminder, Mirror, Subscription
from apps.mirrors.services import ack_record, mirror_create
from tests.mirrors.support import publish

HOUR = 3600


@pytest.fixture
def mirror(release):
    mirror = mirror_create(name="lab", datasets=[release.dataset], contact_email="ops@lab.example",
                           actor=Actor.system()).mirror
    Subscription.objects.update(created_at=timezone.now() - timedelta(days=30))
    return mirror


@pytest.fixture
def keys(release_on_disk):
    return [s.key for s in release_on_disk.data.successful()]


def _publish(operator, key, category, hours_ago: float):
    [version] = publish(operator, key, category)
    BlocklistVersion.objects.filter(pk=version.pk).update(created_at=timezone.now() - timedelta(hours=hours_ago))
    return version


def _state(mirror):
    [state] = mirror_compliance(mirrors=Mirror.objects.filter(pk=mirror.pk))
    [row] = state.releases
    return row


def test_the_most_urgent_category_sets_the_deadline_and_a_refresh_gets_the_longest(settings):
    assert deadline_seconds({"copyright", "csam"}) == 1 * HOUR
    assert deadline_seconds({"ncii"}) == 4 * HOUR
    assert deadline_seconds(set()) == 168 * HOUR
    settings.MIRROR_ACK_DEADLINES = {**settings.MIRROR_ACK_DEADLINES, "csam": 30 * 60}
    assert deadline_seconds({"csam"}) == 30 * 60


def test_a_mirror_past_a_versions_deadline_is_overdue_then_escalated(mirror, operator, keys):
    version = _publish(operator, keys[0], "csam", hours_ago=0.5)
    row = _state(mirror)
    assert (row.latest_published, row.latest_applied, row.lag, row.overdue) == (1, None, 1, False)
    assert 1700 < row.lag_seconds < 1900

    BlocklistVersion.objects.filter(pk=version.pk).update(created_at=timezone.now() - timedelta(minutes=90))
    row = _state(mirror)
    assert (row.overdue, row.escalated, row.overdue_version) == (True, False, 1)
    BlocklistVersion.objects.filter(pk=version.pk).update(created_at=timezone.now() - timedelta(hours=2, minutes=1))
    assert _state(mirror).escalated

    ack_record(mirror=mirror, dataset="demo", release="2026-11", version=1, status="applied")
    row = _state(mirror)
    assert (row.latest_applied, row.lag, row.lag_seconds, row.overdue) == (1, 0, 0, False)
    assert 2 * HOUR < row.time_to_acknowledge_seconds < 2 * HOUR + 120


def test_acknowledging_a_later_version_covers_the_earlier_ones(mirror, operator, keys):
    _publish(operator, keys[0], "csam", hours_ago=10)
    _publish(operator, keys[1], "copyright", hours_ago=1)
    assert _state(mirror).overdue_version == 1
    ack_record(mirror=mirror, dataset="demo", release="2026-11", version=2, status="applied")
    row = _state(mirror)
    assert (row.latest_applied, row.lag, row.overdue) == (2, 0, False)
    ack_record(mirror=mirror, dataset="demo", release="2026-11", version=1, status="failed")
    assert _state(mirror).latest_applied == 2


def test_a_failed_acknowledgement_does_not_count(mirror, operator, keys):
    _publish(operator, keys[0], "ncii", hours_ago=5)
    ack_record(mirror=mirror, dataset="demo", release="2026-11", version=1, status="failed", detail="disk full")
    row = _state(mirror)
    assert (row.latest_applied, row.overdue) == (None, True)


def test_a_refresh_only_version_gets_the_longest_deadline(mirror, operator, keys):
    version = _publish(operator, keys[0], "csam", hours_ago=100)
    version.requests.clear()  # as a refresh of the same keys carries no request
    assert not _state(mirror).overdue
    BlocklistVersion.objects.filter(pk=version.pk).update(created_at=timezone.now() - timedelta(hours=169))
    assert _state(mirror).overdue


def test_the_clock_starts_when_the_mirror_subscribed_and_only_active_mirrors_are_overdue(mirror, operator, keys):
    _publish(operator, keys[0], "csam", hours_ago=48)
    Subscription.objects.update(created_at=timezone.now() - timedelta(minutes=10))
    assert not _state(mirror).overdue
    Subscription.objects.update(created_at=timezone.now() - timedelta(hours=3))
    assert _state(mirror).overdue
    Mirror.objects.filter(pk=mirror.pk).update(active=False)
    assert not _state(mirror).overdue


def test_mirror_status_shows_lag_time_to_acknowledge_and_overdue(mirror, operator, keys, run_command):
    _publish(operator, keys[0], "copyright", hours_ago=80)
    _publish(operator, keys[1], "copyright", hours_ago=3)
    ack = ack_record(mirror=mirror, dataset="demo", release="2026-11", version=1, status="applied")
    Acknowledgement.objects.filter(pk=ack.pk).update(created_at=timezone.now() - timedelta(hours=50))

    out, _ = run_command("mirror_status")
    assert "lab (active" in out
    assert "demo/2026-11: published v2, applied v1, lag 1 (3.0 h), acknowledged in 30.0 h" in out
    assert "OVERDUE" not in out

    BlocklistVersion.objects.filter(version=2).update(created_at=timezone.now() - timedelta(hours=100))
    out, _ = run_command("mirror_status")
    assert "OVERDUE: v2 was due" in out and "ESCALATED" not in out
    [row] = json.loads(run_command("mirror_status", "--json")[0])
    [release] = row["releases"]
    assert (release["latest_published"], release["latest_applied"], release["lag"]) == (2, 1, 1)
    assert (release["overdue"], release["escalated"], release["overdue_version"]) == (True, False, 2)
    assert release["time_to_acknowledge_seconds"] == pytest.approx(30 * HOUR, abs=120)
    assert release["deadline"] and release["lag_seconds"] == pytest.approx(100 * HOUR, abs=120)


def test_overdue_mirrors_are_reminded_once_a_day_and_escalated(mirror, operator, keys, staff_with):
    staff_with("boss", "admin")
    version = _publish(operator, keys[0], "csam", hours_ago=1.5)
    now = timezone.now()

    assert ack_reminders_send(now=now) == 1
    staff_mail, mirror_mail = mail.outbox
    assert staff_mail.to == ["boss@host.example"] and "ESCALATED" not in staff_mail.subject
    assert "lab: demo/2026-11 v1 not acknowledged as applied" in staff_mail.body
    assert mirror_mail.to == ["ops@lab.example"] and "overdue on mirror lab" in mirror_mail.subject
    assert keys[0] not in staff_mail.body + mirror_mail.body  # never an identifier

    assert ack_reminders_send(now=now + timedelta(minutes=20)) == 0  # once a day
    assert len(mail.outbox) == 2

    BlocklistVersion.objects.filter(pk=version.pk).update(created_at=now - timedelta(hours=3))
    assert ack_reminders_send(now=now + timedelta(minutes=30)) == 1
    assert all(m.subject.startswith("ESCALATED: ") for m in mail.outbox[2:]) and len(mail.outbox) == 4
    assert ack_reminders_send(now=now + timedelta(minutes=40)) == 0

    assert ack_reminders_send(now=now + timedelta(days=1)) == 1  # the next day, again
    assert AckReminder.objects.count() == 3

    ack_record(mirror=mirror, dataset="demo", release="2026-11", version=1, status="applied")
    assert ack_reminders_send(now=now + timedelta(days=2)) == 0


def test_no_reminder_is_recorded_when_no_staff_address_can_receive_it(mirror, operator, keys):
    _publish(operator, keys[0], "csam", hours_ago=5)
    assert ack_reminders_send() == 0
    assert not AckReminder.objects.exists() and mail.outbox == []


def test_the_beat_schedule_runs_the_mirror_tasks(settings):
    from project.celery import app

    app.loader.import_default_modules()
    schedule = settings.CELERY_BEAT_SCHEDULE
    for entry in ("mirror-ack-reminders", "feed-prune", "reconcile"):
        assert schedule[entry]["task"] in app.tasks, entry
    # The reconciler also resends webhook deliveries whose queue message was lost.
    from apps.events import registry
    from apps.mirrors.tasks import deliveries_resume

    assert deliveries_resume in registry.sweepers()


@pytest.mark.parametrize("value, message", [
    ("csam=1x", "MIRROR_ACK_DEADLINES: 'csam=1x' is not category=<number><m|h|d>"),
    ("csam=0h", "MIRROR_ACK_DEADLINES: 'csam=0h' is not"),
    ("bogus=1h", "MIRROR_ACK_DEADLINES names unknown categories bogus"),
])
def test_a_bad_deadline_setting_stops_start_up(tmp_path, value, message):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "DATA_DIR": str(tmp_path), "MIRROR_ACK_DEADLINES": value}
    env.pop("DATABASE_URL", None)
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=Path(__file__).resolve().parents[2],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
