"""Release ingest fanned out by shard on real Celery workers: Redis in CI, the folder broker locally.

Each test starts `celery -A project worker` processes (as tests/test_worker.py does) on this
test's database, index folder and queue, queues a synthetic release with
`import_release --background` (a shard.queued event per shard), and watches the database until the
release is ready. A worker killed on the way is made good by the reconciler, with no step by anyone.
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
from apps.core.locks import held
from apps.datasets import synthetic
from apps.datasets.models import Release
from apps.datasets.services import release_index_parts, release_register
from apps.events.models import HandlerRun
from apps.matching.selectors import Query, hits_for
from tests.support.workers import Worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
# Workers that resume fast: a dead worker's lease lapses in 2 s and beat reconciles every second.
FAST_RESUME = {"EVENT_LEASE_SECONDS": "2", "RESUME_INTERVAL_SECONDS": "1", "EVENT_RETRY_BASE_SECONDS": "1",
               "EVENT_REDISPATCH_SECONDS": "2"}


def _ready(*workers: Worker) -> None:
    for worker in workers:
        assert wait_for(lambda w=worker: f"{w.name}@" in w.output() and " ready." in w.output(), timeout=60,
                     workers=[worker]), f"worker {worker.name} did not start:\n{worker.output()}"


@contextmanager
def _finalize_lock(release: Release, timeout: float = 10.0):
    """Hold the lock a worker holds while it finalizes the release (once the dead worker's is gone)."""
    deadline = time.monotonic() + timeout
    while True:
        with held(f"release-finalize:{release.pk}", wait=False) as mine:
            if mine:
                yield
                return
        assert time.monotonic() < deadline, "the killed worker's finalize lock was not released"
        time.sleep(0.05)


def _runs(release: Release, handler: str) -> list[HandlerRun]:
    return [r for r in HandlerRun.objects.filter(handler=handler) if r.event.payload.get("release") == release.pk]


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
    shards = _runs(release, "datasets.index_shard")
    assert len(shards) == 6 and {r.status for r in shards} == {HandlerRun.Status.DONE}
    assert len({r.worker for r in shards}) == 2, f"one worker indexed every shard: {[r.worker for r in shards]}"
    [finalize] = _runs(release, "datasets.finalize_release")
    assert finalize.status == HandlerRun.Status.DONE and finalize.attempts == 1


def test_a_worker_killed_mid_release_loses_nothing_and_repeats_nothing(start_worker, tmp_path, run_command):
    data = synthetic.write_release(tmp_path / "shards", shards=12, samples_per_shard=30, seed=42)
    doomed = start_worker("doomed", env=FAST_RESUME)
    _ready(doomed)
    out, _ = run_command("import_release", "demo", "2027-02", str(tmp_path / "shards"), "--background")
    assert "Queued 12 shards" in out
    release = Release.objects.get(dataset__name="demo", name="2027-02")

    # Kill it with a shard done and the next one in its hands (claimed, not finished).
    def mid_shard() -> bool:
        running = [r for r in _runs(release, "datasets.index_shard") if r.status == HandlerRun.Status.RUNNING]
        return bool(running) and len(_indexed(release)) >= 1
    assert wait_for(mid_shard, timeout=60, workers=[doomed], interval=0.02), doomed.output()
    doomed.kill()
    before = _indexed(release)
    held = [r.pk for r in _runs(release, "datasets.index_shard") if r.status == HandlerRun.Status.RUNNING]
    assert _status(release) == Release.Status.INDEXING and 1 <= len(before) < 12, (len(before), _status(release))

    # Workers start again, one with beat as ./run starts it: the killed worker's shard is handed out again once
    # its lease lapses, and what its queue held is sent again. Nobody runs the import again.
    fresh = [start_worker("fresh-1", beat=True, env=FAST_RESUME), start_worker("fresh-2", env=FAST_RESUME)]
    assert wait_for(lambda: _status(release) == Release.Status.READY, timeout=120, workers=fresh), \
        f"the release is {_status(release)} with {len(_indexed(release))} of 12 shards indexed"
    _assert_ready_and_complete(release, data, shards=12)
    after = _indexed(release)
    assert {name: after[name] for name in before} == before, "a shard indexed before the kill was indexed again"
    # The shard the dead worker held (if it held one at that instant) was taken over once its lease lapsed. The
    # doomed worker may have committed that shard's index just before it died, so the release can be ready while the
    # run waits to be handed out again: wait for the run itself, whose second attempt finds the work done.
    runs = HandlerRun.objects.filter(pk__in=held)
    assert wait_for(lambda: all(r.status == HandlerRun.Status.DONE for r in runs.all()), timeout=60, workers=fresh), \
        [(r.status, r.attempts, r.last_error) for r in runs.all()]
    assert _indexed(release) == after, "the run handed out again indexed its shard a second time"
    for run in runs.all():
        assert run.status == HandlerRun.Status.DONE and run.attempts == 2, (run.attempts, run.last_error)


def test_a_worker_killed_while_finalizing_does_not_hold_up_the_release(start_worker, tmp_path, run_command):
    data = synthetic.write_release(tmp_path / "shards", shards=4, samples_per_shard=30, seed=43)
    release, _ = release_register(dataset="demo", release="2027-03", path=tmp_path / "shards")
    release_index_parts(release=release)  # every shard indexed: what is left is the finalize
    # A part's metadata becomes a pipe that nobody writes to: the finalize blocks reading it.
    meta = release.index_path / "parts" / f"{data.shard_names[0]}.json"
    saved = meta.read_bytes()
    meta.unlink()
    os.mkfifo(meta)
    doomed = start_worker("doomed", env=FAST_RESUME)
    out, _ = run_command("import_release", "demo", "2027-03", str(tmp_path / "shards"), "--background")
    assert "Queued 0 shards" in out

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
    [finalize] = _runs(release, "datasets.finalize_release")
    assert finalize.status == HandlerRun.Status.RUNNING and _status(release) == Release.Status.INDEXING

    # A fresh worker with beat takes the finalize over once its lease lapses, but never beside a live finalize:
    # while this process holds the lock a finalizing worker holds, the release stays indexing.
    fresh = start_worker("fresh", beat=True, env=FAST_RESUME)
    with _finalize_lock(release):
        assert wait_for(lambda: HandlerRun.objects.get(pk=finalize.pk).attempts == 2, timeout=60, workers=[fresh])
        time.sleep(1)
        assert _status(release) == Release.Status.INDEXING
    assert wait_for(lambda: _status(release) == Release.Status.READY, timeout=60, workers=[fresh]), \
        f"the release is still {_status(release)}\n{fresh.output()}"
    _assert_ready_and_complete(release, data, shards=4)
    assert HandlerRun.objects.get(pk=finalize.pk).status == HandlerRun.Status.DONE
