"""The outbox half of bench/soak.py: removal requests logged and approved during the soak, and the tally after.

`python bench/soak_outbox.py feed EVERY OUT STOP` logs a request every EVERY seconds on the demo release (one
sample's URL, key, md5 or sha256 in turn, those it has), approves it as the operator and appends its tracking id
to OUT, until the file STOP exists. Nothing is run here: the events it records go to the worker through the
broker, as a web request's would.

`python bench/soak_outbox.py tally WAIT` waits up to WAIT seconds for background work to settle (no handler run
waiting or running), then prints one JSON line: requests by status, handler runs by status, events, blocklist
versions.

Both run with the soak's environment (DATA_DIR, settings); bench/soak.py starts them.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import django  # noqa: E402

django.setup()

from apps.blocklists.models import BlocklistVersion  # noqa: E402
from apps.core.actors import Actor  # noqa: E402
from apps.core.identifiers import ParsedIdentifier  # noqa: E402
from apps.datasets.models import Release  # noqa: E402
from apps.datasets.selectors import release_samples  # noqa: E402
from apps.events.models import Event, HandlerRun  # noqa: E402
from apps.removals.models import Channel, RemovalRequest  # noqa: E402
from apps.removals.services import Intake, request_approve, request_create  # noqa: E402

CATEGORIES = ["copyright", "privacy", "opt_out", "other"]


def feed(every: float, out: Path, stop: Path) -> None:
    release = Release.objects.get(dataset__name="demo", name="2026-11")
    samples = release_samples(release=release, limit=1000)
    actor = Actor.operator()
    n = 0
    while not stop.exists():
        sample = samples[n % len(samples)]
        kinds = [kind for kind in ("url", "key", "md5", "sha256") if sample.get(kind)]
        kind = kinds[n % len(kinds)]
        request = request_create(category=CATEGORIES[n % len(CATEGORIES)],
                                 identifiers=[ParsedIdentifier(line=2, kind=kind, value=sample[kind])],
                                 actor=actor, source="soak", intake=Intake(channel=Channel.CLI))
        request_approve(request=request, actor=actor)
        with out.open("a") as f:
            f.write(request.tracking_id + "\n")
        n += 1
        deadline = time.monotonic() + every
        while time.monotonic() < deadline and not stop.exists():
            time.sleep(0.2)


def tally(wait: float) -> dict:
    deadline = time.monotonic() + wait
    open_runs = (HandlerRun.Status.PENDING, HandlerRun.Status.RUNNING)
    while HandlerRun.objects.filter(status__in=open_runs).exists() and time.monotonic() < deadline:
        time.sleep(1)
    soak = RemovalRequest.objects.filter(source="soak")
    return {
        "requests": soak.count(),
        "requests_by_status": dict(Counter(soak.values_list("status", flat=True))),
        "runs_by_status": dict(Counter(HandlerRun.objects.values_list("status", flat=True))),
        "runs_retried": HandlerRun.objects.filter(attempts__gt=1).count(),
        "events": Event.objects.count(),
        "blocklist_versions": BlocklistVersion.objects.count(),
    }


if __name__ == "__main__":
    if sys.argv[1] == "feed":
        feed(float(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
    else:
        print(json.dumps(tally(float(sys.argv[2]))))
