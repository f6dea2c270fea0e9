"""Named points where a fault test may have this process die, to prove that work survives a crash anywhere.

TAKEDOWN_CRASH_AT (environment) is `POINT=MARKER_FILE`: the first process to
reach POINT creates MARKER_FILE and kills its whole process group with SIGKILL,
as when the machine under a worker dies (a worker and its pool children go
together). The marker makes it fire once. Unset, a point costs a comparison.
"""
import os
import signal

_POINT, _, _MARKER = os.environ.get("TAKEDOWN_CRASH_AT", "").partition("=")


def point(name: str) -> None:
    if not _POINT or name != _POINT:
        return
    try:
        os.close(os.open(_MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    os.killpg(os.getpgid(0), signal.SIGKILL)
