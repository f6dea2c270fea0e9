"""Taking samples out in tests: what a worker does after an approval, run here instead."""
from apps.core.identifiers import ParsedIdentifier
from apps.events.models import Event
from apps.events.services import events_drain
from apps.removals.selectors import events_about
from apps.removals.services import request_approve, request_create


def publish(request) -> list:
    """Run here what the request's events set off (matching, publishing, telling mirrors, completing);
    returns the blocklist versions that now carry it, as publishing used to."""
    drained = events_drain(events_about(request=request))
    assert not drained.unfinished, [(r.handler, r.last_error) for r in drained.unfinished]
    request.refresh_from_db()
    return list(request.blocklist_versions.select_related("release__dataset").order_by("release_id", "version"))


def publish_fails(request) -> str:
    """Run the request's handlers here, expecting publishing to fail: the error its run records (a worker
    would try it again later)."""
    [run] = events_drain(events_about(request=request)).unfinished
    assert run.handler == "blocklists.publish_request" and run.status == "pending", (run.handler, run.status)
    return run.last_error


def approve_and_publish(operator, keys, category: str = "copyright"):
    """(the request, refreshed; the blocklist versions its publication made)."""
    request = request_create(category=category, actor=operator, identifiers=[
        ParsedIdentifier(line=i, kind="key", value=key) for i, key in enumerate(keys, 2)])
    request_approve(request=request, actor=operator)
    versions = publish(request)
    return request, versions


def ready(release) -> None:
    """Run here what a new release's release.ready sets off: the approved removals applied to it."""
    drained = events_drain(list(Event.objects.filter(name="release.ready", key=str(release.pk))))
    assert not drained.unfinished, [(r.handler, r.last_error) for r in drained.unfinished]
