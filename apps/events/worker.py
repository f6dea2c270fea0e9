"""A Celery worker bootstep that writes the worker's heartbeat, so staff see a dead or absent worker."""
import logging
import os
import threading

from celery import bootsteps

logger = logging.getLogger(__name__)

# The pool forks its processes from this one. A database connection open across a fork breaks both copies
# (SQLite's locks and shared memory are per process; a PostgreSQL socket would be shared), so the heartbeat's
# connection is only ever open while this lock is held, and a fork waits for it.
_no_fork = threading.Lock()


def _fork_done_in_child() -> None:
    global _no_fork
    _no_fork = threading.Lock()  # the child's copy was taken by the fork; the child starts with its own


os.register_at_fork(before=lambda: _no_fork.acquire(), after_in_parent=lambda: _no_fork.release(),
                    after_in_child=_fork_done_in_child)


class Heartbeat(bootsteps.StartStopStep):
    """Every WORKER_HEARTBEAT_SECONDS, from a thread of the worker's main process.

    The main process never runs tasks, so its heartbeat goes on while every
    pool process is busy with a long task: a worker is reported missing only
    when it is gone, not when it is busy.
    """

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.stopped = threading.Event()
        self.thread = None
        self.name = f"worker:{worker.hostname}"

    def start(self, worker):
        self.thread = threading.Thread(target=self._beat, name="takedown-heartbeat", daemon=True)
        self.thread.start()

    def stop(self, worker):
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
        self._record(stopped=True)

    def _record(self, *, stopped: bool = False) -> None:
        from django.db import connections  # Django is set up by the time the worker starts its steps

        from apps.events.models import Heartbeat as Row
        from apps.events.services import heartbeat_record

        with _no_fork:
            try:
                heartbeat_record(kind=Row.Kind.WORKER, name=self.name, pid=os.getpid(), stopped=stopped)
            except Exception:  # the database may be down for a moment: the next beat tries again
                logger.exception("could not record the worker's heartbeat")
            finally:
                connections.close_all()  # this thread's only: nothing stays open for a fork to copy

    def _beat(self) -> None:
        from django.conf import settings

        every = settings.WORKER_HEARTBEAT_SECONDS
        while True:
            self._record()
            if self.stopped.wait(every):
                return
