"""Actions on a request's page where the data is: allow-list a match row's sample, match again, reinstate now,
and the state of its background work (with retry and give up), each for the roles that may do it."""
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.blocklists.models import BlocklistVersion
from apps.blocklists.selectors import blocklist_shard_keys
from apps.core.identifiers import ParsedIdentifier
from apps.events.models import Event, HandlerRun
from apps.events.services import events_drain, heartbeat_record
from apps.matching.models import AllowListEntry, Match
from apps.removals.models import Status
from apps.removals.services import request_approve, request_create, request_reject
from tests.support.removals import approve_and_publish, publish

pytestmark = pytest.mark.django_db


def _url(request, action=None):
    base = f"/admin/removals/removalrequest/{request.pk}/"
    return f"{base}do/{action}/" if action else f"{base}change/"


def _messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"]) if response.context else ""


def _post(client, request, action, data=None):
    return client.post(_url(request, action), data or {}, follow=True)


# ---------------------------------------------------------------- allow-list from a match row


def test_a_reviewer_allow_lists_a_false_positive_from_its_match_row(client, release, release_on_disk, operator,
                                                                   staff_with):
    samples = release_on_disk.data.successful()
    request, [before] = approve_and_publish(operator, [samples[0].key, samples[1].key])
    wrong = Match.objects.get(request=request, key=samples[1].key)
    client.force_login(staff_with("rita", "reviewer"))
    page = client.get(_url(request)).content.decode()
    assert page.count("Allow-list this sample") == 2

    answer = _post(client, request, "allow-list", {"match": wrong.pk, "reason": ""})
    assert "Nothing done: reason: This field is required." in _messages(answer)
    assert not AllowListEntry.objects.exists()

    answer = _post(client, request, "allow-list", {"match": wrong.pk, "reason": "our own logo, not the work"})
    assert f"Allow-listed sample demo/2026-11:{samples[1].key}" in _messages(answer)
    entry = AllowListEntry.objects.get()
    assert (entry.scope, entry.release, entry.key) == ("sample", release, samples[1].key)
    page = answer.content.decode()
    assert "allow-listed (by user:rita" in page and "our own logo, not the work)" in page
    assert page.count("Allow-list this sample") == 1

    events_drain(list(Event.objects.filter(name="allow_list.changed")))  # what a worker does next
    after = BlocklistVersion.objects.filter(release=release).order_by("-version").first()
    assert after.version == before.version + 1
    assert samples[1].key not in blocklist_shard_keys(version=after, shard=samples[1].shard)
    assert samples[0].key in blocklist_shard_keys(version=after, shard=samples[0].shard)

    # Matched again, the sample stays out: the identifier is reported allow-listed, not as matching nothing.
    again = request_create(category="copyright", actor=operator,
                           identifiers=[ParsedIdentifier(2, "key", samples[1].key)])
    publish(again)
    page = client.get(_url(again)).content.decode()
    assert "Identifiers that match nothing (1)" in page and "allow-listed (1 sample)" in page


def test_allow_listing_needs_the_reviewer_role_and_for_csam_the_restricted_one(client, release, release_on_disk,
                                                                                operator, staff_with):
    samples = release_on_disk.data.successful()
    request, _ = approve_and_publish(operator, [samples[0].key])
    match = Match.objects.get(request=request)
    client.force_login(staff_with("ian", "intake"))
    assert "Allow-list this sample" not in client.get(_url(request)).content.decode()
    answer = _post(client, request, "allow-list", {"match": match.pk, "reason": "looks wrong"})
    assert "only staff with the reviewer role may allow-list samples" in _messages(answer)

    csam, _ = approve_and_publish(operator, [samples[2].key], category="csam")
    csam_match = Match.objects.get(request=csam)
    client.force_login(staff_with("rita", "reviewer"))
    page = client.get(_url(csam)).content.decode()
    assert "Allow-list this sample" not in page and samples[2].key not in page
    answer = _post(client, csam, "allow-list", {"match": csam_match.pk, "reason": "x"})
    assert "only staff with the restricted role may allow-list a csam request's matches" in _messages(answer)
    # Another request's match cannot be allow-listed through this one.
    answer = _post(client, request, "allow-list", {"match": csam_match.pk, "reason": "x"})
    assert "that match is not one of this request's" in _messages(answer)
    assert not AllowListEntry.objects.exists()

    client.force_login(staff_with("ruth", "reviewer", "restricted"))
    _post(client, csam, "allow-list", {"match": csam_match.pk, "reason": "a hash collision, checked by hand"})
    assert AllowListEntry.objects.get().key == samples[2].key


# ---------------------------------------------------------------- match again, run states, no worker


def test_match_again_records_an_event_that_matching_handles(client, release, release_on_disk, operator,
                                                            staff_with):
    sample = release_on_disk.data.successful()[0]
    request = request_create(category="copyright", actor=operator,
                             identifiers=[ParsedIdentifier(2, "key", sample.key)])
    HandlerRun.objects.filter(handler="matching.match_request").update(
        status="dead", attempts=12, last_error="gave up after 12 tries: OperationalError: disk full")
    client.force_login(staff_with("ian", "intake"))
    page = client.get(_url(request)).content.decode()
    assert "dead: needs staff" in page and "OperationalError: disk full" in page and "Never matched yet." in page
    assert "Retry now" not in page  # retrying runs is for reviewers

    answer = _post(client, request, "rematch")
    assert f"{request.tracking_id} will be matched again by a worker" in _messages(answer)
    [run] = HandlerRun.objects.filter(event__name="request.rematch", event__payload__request=request.pk)
    assert (run.handler, run.status) == ("matching.match_request", "pending")
    assert "waiting for a worker since" in answer.content.decode()
    assert AuditEvent.objects.filter(action="request.rematch", object_id=str(request.pk)).exists()

    events_drain([run.event])
    request.refresh_from_db()
    assert request.matched_at is not None and Match.objects.filter(request=request, key=sample.key).exists()

    request_reject(request=request, actor=operator, reason="not ours")
    answer = _post(client, request, "rematch")
    assert "is rejected: it is matched no more" in _messages(answer)
    assert "Match again" not in answer.content.decode()


def test_the_page_tells_each_runs_state_and_when_no_worker_is_alive(client, release, release_on_disk, operator,
                                                                    staff_with):
    sample = release_on_disk.data.successful()[0]
    request = request_create(category="copyright", actor=operator,
                             identifiers=[ParsedIdentifier(2, "key", sample.key)])
    run = HandlerRun.objects.get(handler="matching.match_request")
    client.force_login(staff_with("rita", "reviewer"))

    page = client.get(_url(request)).content.decode()
    assert "No worker is running" in page and "waiting for a worker since" in page

    heartbeat_record(kind="worker", name="celery@box-1", pid=41)
    page = client.get(_url(request)).content.decode()
    assert "No worker is running" not in page

    now = timezone.now()
    HandlerRun.objects.filter(pk=run.pk).update(status="running", attempts=1, worker="celery@box-1:41",
                                                started_at=now, lease_until=now + timedelta(seconds=60))
    page = client.get(_url(request)).content.decode()
    assert "running on celery@box-1:41 since" in page and "Give up" not in page

    HandlerRun.objects.filter(pk=run.pk).update(lease_until=now - timedelta(seconds=5))
    page = client.get(_url(request)).content.decode()
    assert "its worker celery@box-1:41 stopped reporting" in page

    HandlerRun.objects.filter(pk=run.pk).update(status="pending", attempts=2, due_at=now + timedelta(minutes=2),
                                                last_error="OperationalError: database is locked")
    page = client.get(_url(request)).content.decode()
    assert "retrying: 2 tries so far, next at" in page and "database is locked" in page

    answer = _post(client, request, "give-up-run", {"run": run.pk})
    assert "Gave up on the run" in _messages(answer)
    run.refresh_from_db()
    assert run.status == "dead" and run.last_error.startswith("given up by user:rita")
    assert AuditEvent.objects.filter(action="background.given_up").exists()

    answer = _post(client, request, "retry-run", {"run": run.pk})
    assert "Queued the run again." in _messages(answer)
    run.refresh_from_db()
    assert (run.status, run.attempts) == ("pending", 0)

    other = request_create(category="copyright", actor=operator, identifiers=[ParsedIdentifier(2, "key", "1")])
    answer = _post(client, other, "retry-run", {"run": run.pk})
    assert "that background run is not one of this request's" in _messages(answer)


# ---------------------------------------------------------------- reinstate now


def test_legal_staff_reinstate_a_published_request_now_with_a_reason(client, release, release_on_disk, operator,
                                                                     staff_with):
    samples = release_on_disk.data.successful()
    request, _ = approve_and_publish(operator, [samples[0].key])
    client.force_login(staff_with("rita", "reviewer"))
    assert "Reinstate now" not in client.get(_url(request)).content.decode()
    answer = _post(client, request, "reinstate-now", {"reason": "x"})
    assert "only staff with the legal role may reinstate removals" in _messages(answer)

    client.force_login(staff_with("lena", "legal"))
    assert 'id="reinstate-button"' in client.get(_url(request)).content.decode()
    answer = _post(client, request, "reinstate-now", {"reason": ""})
    assert "Nothing done: reason: This field is required." in _messages(answer)
    answer = _post(client, request, "reinstate-now", {"reason": "licence found: CC-BY"})
    assert f"Reinstated {request.tracking_id}" in _messages(answer)
    request.refresh_from_db()
    assert request.status == Status.REINSTATED
    assert 'id="reinstate-button"' not in answer.content.decode()
    assert Event.objects.filter(name="request.reinstated", payload__request=request.pk).exists()

    pending = request_create(category="copyright", actor=operator,
                             identifiers=[ParsedIdentifier(2, "key", samples[1].key)])
    answer = _post(client, pending, "reinstate-now", {"reason": "x"})
    assert "is received: only a published or completed removal can be reinstated (reject it instead)" in _messages(
        answer)


def test_csam_shows_no_reinstate_button_and_ncii_needs_restricted(client, release, release_on_disk, operator,
                                                                   staff_with):
    samples = release_on_disk.data.successful()
    csam, _ = approve_and_publish(operator, [samples[0].key], category="csam")
    client.force_login(staff_with("lara", "legal", "restricted"))
    page = client.get(_url(csam)).content.decode()
    assert 'id="reinstate-button"' not in page and "csam is never reinstated" in page
    answer = _post(client, csam, "reinstate-now", {"reason": "x"})
    assert "csam is never reinstated" in _messages(answer)

    ncii = request_create(category="ncii", actor=operator, identifiers=[ParsedIdentifier(2, "key", samples[1].key)])
    request_approve(request=ncii, actor=operator)
    publish(ncii)
    client.force_login(staff_with("leo", "legal"))
    assert 'id="reinstate-button"' not in client.get(_url(ncii)).content.decode()
    answer = _post(client, ncii, "reinstate-now", {"reason": "x"})
    assert "only staff with the restricted role may reinstate removals" in _messages(answer)
    ncii.refresh_from_db()
    assert ncii.status != Status.REINSTATED


def test_lookup_lists_an_allow_listed_sample_as_allow_listed_not_as_missing(client, release, release_on_disk,
                                                                            operator, staff_with):
    from apps.matching.services import allow_list_add

    sample = release_on_disk.data.successful()[3]
    allow_list_add(actor=operator, reason="the publisher's own test card", release=release, key=sample.key)
    client.force_login(staff_with("rita", "reviewer"))
    page = client.get("/admin/lookup/", {"q": sample.canonical_url}).content.decode()
    row = page.split('id="lookup-samples"')[1].split("</tr>")[1]
    assert sample.key in row and "allow-listed, not matched" in row
    assert "by cli:tester: the publisher&#x27;s own test card" in row
