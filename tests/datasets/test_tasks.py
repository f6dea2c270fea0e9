"""Release ingest fanned out by shard on real Celery workers: Redis in CI, the folder broker locally.

Each test starts `celery -A project worker` processes (as tests/test_worker.py does) on this
test's database, index folder and queue, queues a synthetic release with
`import_release --background`, and watches the database until the release is ready.
"""
import os
import time
from collections import defaultdict
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connection

from apps.audit.models import AuditEvent
from apps.core.identifiers import normalise
from apps.datasets import synthetic
from apps.datasets.models import Release
from apps.datasets.services import release_index_parts, release_register
from apps.datasets.tasks import _finalizing
from apps.matching.selectors import Query, hits_for
from tests.support.workers import Worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _ready(*workers: Worker) -> None:
    for worker in workers:
        assert wait_for(lambda w=worker: f"{w.name}@" in w.output() and " ready." in w.output(), timeout=60,
                     workers=[worker]), f"worker {worker.name} did not start:\n{worker.output()}"


@contextmanager
def _finalize_lock(release: Release, timeout: float = 10.0):
    """Hold the lock a worker holds while it finalizes the release (once the dead worker's is gone)."""
    deadline = time.monotonic() + timeout
    while True:
        with _finalizing(release) as mine:
            if mine:
                yield
                return
        assert time.monotonic() < deadline, "the killed worker's finalize lock was not released"
        time.sleep(0.05)


def _status(release: Release) -> str:
    return Release.objects.values_list("status", flat=True).get(pk=release.pk)


def _indexed(release: Release) -> dict[str, object]:
    return dict(release.shards.filter(indexed_at__isnull=False).values_list("name", "indexed_at"))


def _trail(release: Release) -> list[str]:
    """The release's audit events, oldest first."""
    events = AuditEvent.objects.filter(object_type="datasets.release", object_id=str(release.pk)).order_by("id")
    return list(events.values_list("action", flat=True))


def _assert_ready_and_complete(release: Release, data: synthetic.SyntheticRelease, shards: int) -> None:
    """Every shard indexed into the release's counts, its import audited once, and matching finds it all."""
    release.refresh_from_db()
    assert release.status == Release.Status.READY, release.error
    assert release.shards.count() == shards
    assert not release.shards.filter(indexed_at__isnull=True).exists()
    assert release.sample_count == len(data.successful()) == sum(release.shards.values_list("sample_count", flat=True))
    assert release.row_count == len(data.samples)
    assert _trail(release) == ["release.registered", "release.imported"]
    parts = release.index_path / "parts"
    assert sorted(p.stem for p in parts.glob("*.arrow")) == sorted(data.shard_names)

    expected = synthetic.make_removals(data, seed=5)
    queries = [Query(ref=i, kind=e.kind, value=normalise(e.kind, e.value)) for i, e in enumerate(expected)]
    found = defaultdict(set)
    for hit in hits_for(queries, releases=[release]):
        found[hit.ref].add(hit.key)
    assert sum(len(e.keys) for e in expected) >= 5
    for i, removal in enumerate(expected):
        assert found.get(i, set()) == set(removal.keys), (removal.kind, removal.value)


def test_two_workers_share_the_shards_of_a_release(start_worker, tmp_path, run_command):
    if os.environ.get("TAKEDOWN_REQUIRE_SERVICES"):
        assert settings.CELERY_BROKER_URL.startswith("redis://") and connection.vendor == "postgresql"
    data = synthetic.write_release(tmp_path / "shards", shards=6, samples_per_shard=30, seed=41)
    workers = [start_worker("one"), start_worker("two")]
    _ready(*workers)

    out, _ = run_command("import_release", "demo", "2027-01", str(tmp_path / "shards"), "--background")

    assert "Queued 6 shards" in out
    release = Release.objects.get(dataset__name="demo", name="2027-01")
    assert wait_for(lambda: _status(release) == Release.Status.READY, timeout=120, workers=workers), \
        f"the release is {_status(release)} with {len(_indexed(release))} of 6 shards indexed"
    _assert_ready_and_complete(release, data, shards=6)
    # A task's log line comes once it has returned, a moment after what it wrote: wait for the last ones.
    def finished(task: str) -> int:
        return sum(w.tasks(task, "succeeded") for w in workers)
    assert wait_for(lambda: finished("shard_index_task") >= 6 and finished("release_finalize_task") >= 1, timeout=30)
    done = {w.name: w.tasks("shard_index_task", "succeeded") for w in workers}
    assert sum(done.values()) == 6 and all(done.values()), f"shard tasks per worker: {done}"
    assert finished("release_finalize_task") == 1


def test_a_worker_killed_mid_release_loses_nothing_and_repeats_nothing(start_worker, tmp_path, run_command):
    data = synthetic.write_release(tmp_path / "shards", shards=12, samples_per_shard=30, seed=42)
    doomed = start_worker("doomed")
    _ready(doomed)
    out, _ = run_command("import_release", "demo", "2027-02", str(tmp_path / "shards"), "--background")
    assert "Queued 12 shards" in out
    release = Release.objects.get(dataset__name="demo", name="2027-02")

    # Kill it with a shard done and the next one in its hands (received, not finished).
    def mid_shard() -> bool:
        busy = doomed.tasks("shard_index_task", "received") > doomed.tasks("shard_index_task", "succeeded")
        return busy and len(_indexed(release)) >= 1
    assert wait_for(mid_shard, timeout=60, workers=[doomed], interval=0.02), doomed.output()
    doomed.kill()
    before = _indexed(release)
    assert _status(release) == Release.Status.INDEXING and 1 <= len(before) < 12, (len(before), _status(release))

    # The operator starts the workers again and runs the import again: the shards not indexed are queued again
    # (the killed task's message comes back too, at once on the folder broker and after the visibility timeout
    # on Redis: whichever runs second finds its shard indexed and skips it).
    fresh = [start_worker("fresh-1"), start_worker("fresh-2")]
    out, _ = run_command("import_release", "demo", "2027-02", str(tmp_path / "shards"), "--background")
    assert f"Queued {12 - len(before)} shards" in out

    assert wait_for(lambda: _status(release) == Release.Status.READY, timeout=120, workers=fresh), \
        f"the release is {_status(release)} with {len(_indexed(release))} of 12 shards indexed"
    _assert_ready_and_complete(release, data, shards=12)
    after = _indexed(release)
    assert {name: after[name] for name in before} == before, "a shard indexed before the kill was indexed again"


def test_a_worker_killed_while_finalizing_does_not_hold_up_the_release(start_worker, tmp_path, run_command):
    data = synthetic.write_release(tmp_path / "shards", shards=4, samples_per_shard=30, seed=43)
    release, _ = release_register(dataset="demo", release="2027-03", path=tmp_path / "shards")
    release_index_parts(release=release)  # every shard indexed: what is left is the finalize
    # A part's metadata becomes a pipe that nobody writes to: the finalize blocks reading it.
    meta = release.index_path / "parts" / f"{data.shard_names[0]}.json"
    saved = meta.read_bytes()
    meta.unlink()
    os.mkfifo(meta)
    doomed = start_worker("doomed")
    run_command("import_release", "demo", "2027-03", str(tmp_path / "shards"), "--background")

    # Opening a pipe to write succeeds once a reader has it open; the pipe kept open, that reader's read blocks.
    writer, deadline = None, time.monotonic() + 60
    while writer is None and time.monotonic() < deadline and doomed.process.poll() is None:
        try:
            writer = os.open(meta, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            time.sleep(0.05)
    assert writer is not None, f"the worker did not start finalizing:\n{doomed.output()}"
    doomed.kill()
    os.close(writer)
    meta.unlink()
    meta.write_bytes(saved)
    release.refresh_from_db()
    assert release.status == Release.Status.INDEXING and release.finalize_claimed_at is not None
    assert doomed.tasks("release_finalize_task", "received") == 1
    assert doomed.tasks("release_finalize_task", "succeeded") == 0

    # The operator runs the import again: it queues the finalize, which waits for no lease and never runs beside
    # a live finalize (this process holds the lock a finalizing worker holds, then lets go).
    fresh = start_worker("fresh")
    with _finalize_lock(release):
        out, _ = run_command("import_release", "demo", "2027-03", str(tmp_path / "shards"), "--background")
        assert "Queued 0 shards" in out
        assert wait_for(lambda: "is being finalized by another worker" in fresh.output(), timeout=60, workers=[fresh])
    assert _status(release) == Release.Status.INDEXING
    run_command("import_release", "demo", "2027-03", str(tmp_path / "shards"), "--background")
    assert wait_for(lambda: _status(release) == Release.Status.READY, timeout=60, workers=[fresh]), \
        f"the release is still {_status(release)}: the dead worker's finalize claim holds it up\n{fresh.output()}"
    _assert_ready_and_complete(release, data, shards=4)
