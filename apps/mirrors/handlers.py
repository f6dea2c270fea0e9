"""What the mirrors stage does when a blocklist is published or a mirror acknowledges one."""
from django.db import transaction

from apps.blocklists.events import BLOCKLIST_PUBLISHED
from apps.blocklists.models import BlocklistVersion
from apps.core import faults
from apps.datasets.models import Release
from apps.events.registry import subscribe
from apps.mirrors.events import MIRROR_ACKNOWLEDGED
from apps.mirrors.selectors import requests_propagated
from apps.mirrors.services import feed_announce
from apps.mirrors.tasks import event_fanout_task
from apps.removals.events import REQUEST_PUBLISHED
from apps.removals.services import request_complete


@subscribe(BLOCKLIST_PUBLISHED, name="mirrors.announce")
def announce(event) -> None:
    """Put the version on the feed with a webhook delivery per subscribed mirror, and queue their fan-out
    (a task of its own, so that slow receivers never hold this run; lost, the reconciler resends them)."""
    version = BlocklistVersion.objects.filter(pk=event.payload["version"]).first()
    if version is None:
        return
    feed_event = feed_announce(blocklist=version)
    faults.point("mirrors.announce.announced")
    if feed_event.deliveries.filter(status="pending").exists():
        transaction.on_commit(lambda: event_fanout_task.delay(feed_event.pk))


@subscribe(MIRROR_ACKNOWLEDGED, REQUEST_PUBLISHED, name="mirrors.complete_requests")
def complete_requests(event) -> None:
    """Mark completed the published requests that every active mirror has now applied."""
    if event.name == MIRROR_ACKNOWLEDGED:
        if event.payload.get("status") != "applied":
            return
        releases = Release.objects.filter(pk=event.payload["release"])
    else:
        releases = Release.objects.filter(blocklist_versions__requests=event.payload["request"]).distinct()
    for release in releases:
        for request in requests_propagated(release=release):
            request_complete(request=request)
            faults.point("mirrors.complete.marked")
