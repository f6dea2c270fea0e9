"""Tasks for the folder broker's tests and soak (bench/soak.py), imported by a worker started with
`-I tests.support.broker_tasks`. Each run appends a line to a file named in its arguments, so a test counts
the runs of every token without a database."""
import os
import time

from celery import shared_task


def append_line(path: str, line: str) -> None:
    """One write with O_APPEND: lines from concurrent processes never interleave."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


@shared_task(name="broker_tests.record")
def record_task(path: str, token: str, payload: str = "", sent: float = 0.0) -> None:
    """Record a run of `token`: the payload's length (all of it arrived) and seconds since it was sent."""
    append_line(path, f"{token} {len(payload)} {time.time() - sent:.3f}")


@shared_task(name="broker_tests.spawn")
def spawn_task(path: str, token: str, children: int, sent: float = 0.0) -> None:
    """Record a run of `token`, then queue `children` record tasks (`<token>.<i>`): work that queues work."""
    for i in range(children):
        record_task.delay(path, f"{token}.{i}", sent=time.time())
    append_line(path, f"{token} 0 {time.time() - sent:.3f}")


@shared_task(name="broker_tests.hold")
def hold_task(path: str, token: str) -> None:
    """On its first run, record `<token> started` and sleep (the test kills the worker); later runs finish."""
    first = not os.path.exists(path)
    append_line(path, f"{token} started {os.getpid()}")
    if first:
        time.sleep(600)
    append_line(path, f"{token} finished {os.getpid()}")
