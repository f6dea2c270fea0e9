"""Flood quarantine: a request that would remove too much waits for a reviewer, whatever the policy says."""
import pytest
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.blocklists.models import BlocklistVersion
from apps.core.actors import Actor
from apps.core.identifiers import ParsedIdentifier
from apps.events.models import Event
from apps.intake.flaggers import flagger_create
from apps.intake.models import TrustedFlagger
from apps.matching.models import Match
from apps.removals.models import RemovalRequest, Status
from apps.removals.services import request_approve, request_create
from tests.blocklists.support import file_keys, manifest
from tests.support.removals import approve_and_publish, publish

URL = "/api/v1/flagger/requests"


@pytest.fixture
def hotline(db):
    flagger, token = flagger_create(name="IWF", kind="hotline", actor=Actor(label="cli:tester"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return flagger, api


def _urls(release_on_disk, n: int) -> list[dict]:
    return [{"kind": "url", "value": s.url} for s in release_on_disk.data.successful()[:n]]


def _blocked_keys() -> set[str]:
    return set(Match.objects.filter(request__blocklist_versions__isnull=False).values_list("key", flat=True))


def test_a_hotline_request_over_the_limit_is_held_never_published_and_a_reviewer_releases_it(
        settings, hotline, release, release_on_disk, operator, staff):
    settings.FLOOD_MAX_SAMPLES = 5
    _, api = hotline
    response = api.post(URL, {"category": "csam", "reference": "iwf-flood", "identifiers": _urls(release_on_disk, 8)},
                        format="json")
    assert response.status_code == 201 and response.json()["status"] == "approved"  # on receipt, by policy
    request = RemovalRequest.objects.get()

    assert publish(request) == []  # the real pipeline: matched, held, nothing published
    assert request.status == Status.TRIAGE and request.flood_held
    assert request.flood_samples >= 8 and "limit 5" in request.flood_detail
    assert not request.approvals.exists() and not BlocklistVersion.objects.exists()
    matched = Event.objects.get(name="request.matched", payload__request=request.pk)
    assert matched.payload["held"] is True and matched.payload["samples"] == request.flood_samples
    held = AuditEvent.objects.get(action="request.flood_held", object_id=str(request.pk))
    assert held.after["approvals_withdrawn"] == ["flagger:IWF"]

    # Another removal published on the same release meanwhile does not carry the held request's samples.
    held_keys = set(request.matches.values_list("key", flat=True))
    survivor = sorted({s.key for s in release_on_disk.data.successful()} - held_keys)[0]
    other, versions = approve_and_publish(operator, [survivor])
    published = {k for e in manifest(versions[0])["shards"] for k in file_keys(versions[0], e["file"])}
    assert survivor in published and not held_keys & published

    status = api.get(f"{URL}/{request.tracking_id}").json()
    assert status["status"] == "triage"
    assert status["flood_hold"]["samples"] == request.flood_samples
    assert "limit 5" in status["flood_hold"]["detail"] and status["flood_hold"]["released_at"] is None

    # A reviewer who sees the count approves: that releases it, and it is published.
    request_approve(request=request, actor=Actor.for_user(staff))
    versions = publish(request)
    assert versions and request.status in (Status.PUBLISHED, Status.COMPLETED)
    assert request.flood_released_by_label == "user:reviewer"
    assert held_keys <= _blocked_keys()


def test_the_request_page_shows_the_count(settings, client, staff, hotline, release, release_on_disk):
    settings.FLOOD_MAX_SAMPLES = 5
    hotline[1].post(URL, {"category": "csam", "reference": "iwf-page", "identifiers": _urls(release_on_disk, 8)},
                    format="json")
    request = RemovalRequest.objects.get()
    publish(request)
    client.force_login(staff)
    page = client.get(f"/admin/removals/removalrequest/{request.pk}/change/").content.decode()
    assert "Flood check" in page and f"it would remove {request.flood_samples:,} samples (limit 5)" in page


def test_a_share_of_a_release_is_a_flood_too(settings, run_command, release, release_on_disk, tmp_path):
    settings.FLOOD_MAX_SHARE, settings.FLOOD_SHARE_MIN_SAMPLES = 5, 2
    path = tmp_path / "urls.csv"
    path.write_text("kind,value\n" + "".join(f"url,{s.url}\n" for s in release_on_disk.data.successful()[:4]))
    run_command("import_removals", str(path), "--category", "other")
    request = RemovalRequest.objects.get()
    assert request.flood_held and request.status == Status.RECEIVED
    assert "of demo/2026-11's" in request.flood_detail and "limit 5%" in request.flood_detail
    # No policy approves it now.
    request_approve(request=request, actor=Actor(label="policy:test"), automatic=True)
    request.refresh_from_db()
    assert request.status == Status.RECEIVED


def test_a_flagger_may_have_its_own_limits_set_in_the_admin(settings, client, staff, hotline, release,
                                                            release_on_disk):
    settings.FLOOD_MAX_SAMPLES = 5
    flagger, api = hotline
    client.force_login(staff)
    page = client.get(f"/admin/intake/trustedflagger/{flagger.pk}/change/")
    assert "flood_max_samples" in page.content.decode()
    client.post(f"/admin/intake/trustedflagger/{flagger.pk}/change/", {
        "kind": "hotline", "contact_email": "", "flood_max_samples": "50", "flood_max_share": ""})
    flagger = TrustedFlagger.objects.get()
    assert flagger.flood_max_samples == 50
    changed = AuditEvent.objects.get(action="flagger.changed", object_id=str(flagger.pk))
    assert changed.after == {"flood_max_samples": 50}

    api.post(URL, {"category": "csam", "reference": "iwf-ok", "identifiers": _urls(release_on_disk, 8)},
             format="json")
    request = RemovalRequest.objects.get()
    assert publish(request) and request.status in (Status.PUBLISHED, Status.COMPLETED)
    assert not request.flood_held and request.flood_held_at is None


def test_an_approval_given_before_the_count_is_known_is_held_too(settings, release, operator, release_on_disk):
    settings.FLOOD_MAX_SAMPLES = 3
    request = request_create(category="copyright", actor=operator, identifiers=[
        ParsedIdentifier(line=n, kind="url", value=s.url)
        for n, s in enumerate(release_on_disk.data.successful()[:4], start=2)])
    request_approve(request=request, actor=operator)  # approved before anyone saw the count
    assert publish(request) == []
    assert request.status == Status.TRIAGE and request.flood_samples >= 4
    assert not Match.objects.filter(request__status__in=("approved", "published")).exists()
