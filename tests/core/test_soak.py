"""Two minutes of bench/soak.py: the embedded default (SQLite, the folder broker, `celery worker --beat` as
./run starts it) under a steady stream of tasks, beat's short schedules and remote control."""
import json
import subprocess
import sys

import pytest

from tests.support.workers import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.worker]


def test_two_minutes_of_steady_load_lose_no_task_and_never_stop_the_worker(tmp_path):
    out = tmp_path / "soak.json"
    run = subprocess.run([sys.executable, "bench/soak.py", "--minutes", "2", "--work", str(tmp_path / "soak"),
                          "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=900)

    assert out.exists(), run.stdout + run.stderr
    report = json.loads(out.read_text())
    assert report["failures"] == [] and run.returncode == 0, run.stdout
    assert report["tasks_sent"] > 1000 and report["tasks_completed"] == report["tasks_sent"]
    assert report["lost"] == 0 and report["beat_lost"] == {} and report["beat_completed"] > 100
    assert report["unrecoverable_errors"] == 0 and report["bad_messages"] == 0
    assert report["worker_alive_to_the_end"] and report["worker_starts"] == report["consumer_connections"] == 1
    assert report["pings"].get("no answer", 0) == 0 and report["pings"]["pong"] >= 3
    outbox = report["outbox"]
    assert outbox["requests"] >= 5 and outbox["requests_by_status"] == {"published": outbox["requests"]}
    assert set(outbox["runs_by_status"]) == {"done"} and outbox["blocklist_versions"] >= 2
