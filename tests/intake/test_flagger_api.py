import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.core.actors import Actor
from apps.core.api import bodies
from apps.core.errors import TakedownError
from apps.events.models import Event
from apps.events.services import events_drain
from apps.intake import flaggers
from apps.intake.api import views
from apps.intake.flaggers import flagger_authenticate, flagger_create, flagger_revoke, flagger_rotate_token
from apps.intake.models import TrustedFlagger
from apps.removals.models import Channel, HotlineReport, Identifier, Policy, RemovalRequest
from apps.removals.selectors import events_about
from apps.removals.services import policy_update, request_reject
from tests.support.bodies import kind_value_csv as _csv
from tests.support.events import run_pending

BASE = "/api/v1/flagger"
URL = f"{BASE}/requests"
MD5 = "D41D8CD98F00B204E9800998ECF8427E"
SHA256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"


def _client(token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


@pytest.fixture
def hotline(db):
    return flagger_create(name="Internet Watch Foundation", kind="hotline", contact_email="tech@iwf.example",
                          actor=Actor(label="cli:tester"))


@pytest.fixture
def research(db):
    return flagger_create(name="Stanford Internet Observatory", kind="research", actor=Actor(label="cli:tester"))


@pytest.fixture
def api(research) -> APIClient:
    return _client(research[1])


class _Queued:
    """What submissions left for the workers: (event, request pk) of every event recorded, oldest first."""

    def __eq__(self, other) -> bool:
        return [(e.name, e.payload.get("request")) for e in Event.objects.order_by("pk")] == other


@pytest.fixture
def queued() -> _Queued:
    return _Queued()


def _body(reference="sio-2023-12", category="other", identifiers=None, **extra) -> dict:
    return {"category": category, "reference": reference, "identifiers": identifiers or [
        {"kind": "MD5", "value": MD5},
        {"kind": "url", "value": "HTTPS://Example.COM:443/a.jpg"},
        {"kind": "sha-256", "value": f"  {SHA256} "},
    ], **extra}


def test_a_json_submission_logs_a_flagger_request(api, research, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(URL, _body(notes="from the December 2023 report"), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    request = RemovalRequest.objects.get()
    assert body == {
        "tracking_id": request.tracking_id, "reference": "sio-2023-12", "status": "received", "category": "other",
        "due_at": body["due_at"], "identifiers": 3, "created": True, "identical": True,
    }
    assert datetime.fromisoformat(body["due_at"].replace("Z", "+00:00")) == request.due_at
    assert (request.channel, request.flagger, request.reference) == (Channel.FLAGGER_API, research[0], "sio-2023-12")
    assert request.source == "Stanford Internet Observatory"
    assert request.notes == "from the December 2023 report"
    assert set(request.identifiers.values_list("kind", "value", "line")) == {
        ("md5", MD5.lower(), None), ("url", "https://example.com/a.jpg", None), ("sha256", SHA256.lower(), None)}
    assert queued == [("request.received", request.pk)]
    event = AuditEvent.objects.get(action="request.received")
    assert event.actor_label == "flagger:Stanford Internet Observatory"
    assert event.after["channel"] == "flagger_api" and event.after["reference"] == "sio-2023-12"


def test_a_csv_submission_takes_its_fields_as_query_parameters(api, research, queued,
                                                               django_capture_on_commit_callbacks):
    body = _csv([("md5", MD5), ("", ""), ("URL", "https://example.com/b.jpg"), ("md5", MD5.lower())])

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{URL}?category=copyright&reference=batch-7&notes=n", body,
                            content_type="text/csv; charset=utf-8")

    assert response.status_code == 201, response.json()
    assert response.json()["identifiers"] == 2  # the repeated md5 is kept once, at its first line
    request = RemovalRequest.objects.get(tracking_id=response.json()["tracking_id"])
    assert (request.category, request.reference, request.channel, request.flagger) == (
        "copyright", "batch-7", "flagger_api", research[0])
    assert list(request.identifiers.order_by("line").values_list("line", "kind", "value")) == [
        (2, "md5", MD5.lower()), (4, "url", "https://example.com/b.jpg")]
    assert queued == [("request.received", request.pk)]


def test_the_same_reference_returns_the_request_already_logged(api, queued, django_capture_on_commit_callbacks):
    first = api.post(URL, _body(), format="json").json()
    events = AuditEvent.objects.count()

    # The same identifiers, in another order and spelling.
    again = api.post(URL, _body(identifiers=[
        {"kind": "sha256", "value": SHA256.lower()}, {"kind": "md5", "value": MD5},
        {"kind": "URL", "value": "https://example.com/a.jpg"}]), format="json")
    assert again.status_code == 200
    assert again.json() == {**first, "created": False, "identical": True}

    with django_capture_on_commit_callbacks(execute=True):
        differing = api.post(URL, _body(identifiers=[{"kind": "md5", "value": "0" * 32}]), format="json")
    assert differing.status_code == 200
    assert differing.json() == {**first, "created": False, "identical": False}

    other_category = api.post(URL, _body(category="copyright"), format="json")
    assert other_category.status_code == 200
    assert other_category.json() == {**first, "created": False, "identical": False}

    csv_again = api.post(f"{URL}?category=other&reference=sio-2023-12",
                         _csv([("md5", MD5), ("url", "https://example.com/a.jpg"), ("sha256", SHA256)]),
                         content_type="text/csv")
    assert csv_again.status_code == 200 and csv_again.json()["identical"] is True

    assert RemovalRequest.objects.count() == 1
    assert Identifier.objects.count() == 3
    assert AuditEvent.objects.count() == events
    assert queued == [("request.received", RemovalRequest.objects.get().pk)]  # the first submission's only


def test_references_are_per_flagger(api, hotline, queued):
    ours = api.post(URL, _body(reference="shared-ref"), format="json").json()
    theirs = _client(hotline[1]).post(URL, _body(reference="shared-ref"), format="json")
    assert theirs.status_code == 201
    assert theirs.json()["tracking_id"] != ours["tracking_id"]


def test_bad_json_identifiers_are_named_by_index_and_nothing_is_written(api, queued):
    response = api.post(URL, _body(identifiers=[
        {"kind": "md5", "value": MD5}, {"kind": "md5", "value": "zz"}, {"kind": "colour", "value": "blue"},
        "https://example.com/x.jpg", {"kind": "url", "value": "https://example.com/ok.jpg"}]), format="json")

    assert response.status_code == 400
    data = response.json()
    assert "3 bad identifiers, nothing was written" in data["detail"]
    assert [e.split(":")[0] for e in data["errors"]] == ["index 1", "index 2", "index 3"]
    assert "unknown kind 'colour'" in data["errors"][1]
    assert not RemovalRequest.objects.exists() and not Identifier.objects.exists()
    assert not AuditEvent.objects.filter(action="request.received").exists()


def test_bad_csv_lines_are_named_and_nothing_is_written(api, queued):
    body = _csv([("md5", MD5), ("sha256", "ab"), ("url", "https://example.com/ok.jpg"), ("pdq", "nothex")])

    response = api.post(f"{URL}?category=other&reference=r1", body, content_type="text/csv")

    assert response.status_code == 400
    data = response.json()
    assert "2 bad lines" in data["detail"]
    assert [e.split(":")[0] for e in data["errors"]] == ["line 3", "line 5"]
    assert not RemovalRequest.objects.exists()


@pytest.mark.parametrize(("body", "message"), [
    ({"reference": "r", "identifiers": [{"kind": "md5", "value": MD5}]}, "category: This field is required."),
    ({"category": "other", "identifiers": [{"kind": "md5", "value": MD5}]}, "reference: This field is required."),
    ({"category": "spam", "reference": "r", "identifiers": [{"kind": "md5", "value": MD5}]},
     'category: "spam" is not a valid choice.'),
    ({"category": "csam", "reference": "r", "identifiers": [{"kind": "md5", "value": MD5}],
      "hotline": {"hotline": "interpol", "report_id": "1"}}, 'hotline.hotline: "interpol" is not a valid choice.'),
    ({"category": "csam", "reference": "r", "identifiers": [{"kind": "md5", "value": MD5}],
      "hotline": {"hotline": "iwf"}}, "hotline.report_id: This field is required."),
])
def test_invalid_fields_are_named(api, body, message):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert message in response.json()["errors"]
    assert not RemovalRequest.objects.exists()


@pytest.mark.parametrize(("body", "message"), [
    ({"category": "other", "reference": "r"}, "identifiers: this field is required"),
    ({"category": "other", "reference": "r", "identifiers": []}, "identifiers: the list is empty"),
    ({"category": "other", "reference": "r", "identifiers": "md5"}, "identifiers: expected a list"),
    ({"category": "other", "reference": "  ", "identifiers": [{"kind": "md5", "value": MD5}]}, "reference"),
    (_body(colour="blue"), "unknown field colour"),
    (_body(hotline={"hotline": "iwf", "report_id": "1"}), "only csam requests carry a hotline report"),
    (_body(category="csam", hotline={"hotline": "other", "report_id": "1"}), "name the hotline"),
    ([{"kind": "md5", "value": MD5}], "must be an object"),
])
def test_malformed_submissions_are_refused(api, body, message):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert message in response.json()["detail"] + " ".join(response.json().get("errors", []))
    assert not RemovalRequest.objects.exists()
    assert not HotlineReport.objects.exists()


def test_query_parameters_are_refused_with_json_and_unknown_ones_with_csv(api):
    response = api.post(f"{URL}?category=other", _body(), format="json")
    assert response.status_code == 400 and "only read with a text/csv body" in response.json()["detail"]
    response = api.post(f"{URL}?category=other&reference=r&colour=blue", _csv([("md5", MD5)]),
                        content_type="text/csv")
    assert response.status_code == 400 and "unknown query parameter colour" in response.json()["detail"]
    response = api.post(f"{URL}?reference=r", _csv([("md5", MD5)]), content_type="text/csv")
    assert response.status_code == 400 and "category: This field is required." in response.json()["errors"]
    assert not RemovalRequest.objects.exists()


def test_other_body_types_are_refused(api):
    response = api.post(URL, "kind=md5", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert "Unsupported media type" in response.json()["detail"]


def test_at_most_100000_identifiers_per_request(api):
    assert flaggers.MAX_IDENTIFIERS == views.MAX_IDENTIFIERS == 100_000
    too_many = [{"kind": "md5", "value": f"{i:032x}"} for i in range(100_001)]
    response = api.post(URL, _body(identifiers=too_many), format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == "too many identifiers: 100,001 (at most 100,000 per request; split the list)"

    body = _csv([("md5", f"{i:032x}") for i in range(100_001)])
    response = api.post(f"{URL}?category=other&reference=big", body, content_type="text/csv")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("too many identifiers: 100,001")
    assert not RemovalRequest.objects.exists()


def test_the_cap_counts_identifiers_sent_not_blank_lines(api, monkeypatch, queued):
    monkeypatch.setattr(views, "MAX_IDENTIFIERS", 2)
    body = _csv([("", ""), ("md5", MD5), ("", ""), ("", ""), ("sha256", SHA256), ("", "")])
    response = api.post(f"{URL}?category=other&reference=r", body, content_type="text/csv")
    assert response.status_code == 201, response.json()
    body = _csv([("md5", MD5), ("sha256", SHA256), ("md5", MD5)])
    response = api.post(f"{URL}?category=other&reference=r2", body, content_type="text/csv")
    assert response.status_code == 400 and "too many identifiers: 3" in response.json()["detail"]
    response = api.post(URL, _body(reference="r3", identifiers=[{"kind": "md5", "value": MD5}] * 3), format="json")
    assert response.status_code == 400 and "too many identifiers: 3" in response.json()["detail"]
    assert RemovalRequest.objects.count() == 1


def test_a_full_batch_is_accepted_beyond_djangos_upload_limit(api, settings, queued):
    body = _csv([("md5", f"{i:032x}") for i in range(100_000)])
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    response = api.post(f"{URL}?category=other&reference=full", body, content_type="text/csv")

    assert response.status_code == 201, response.json()
    assert response.json()["identifiers"] == 100_000
    assert Identifier.objects.count() == 100_000


def test_oversized_bodies_are_refused_with_413(api, monkeypatch):
    monkeypatch.setattr(bodies.JSONBodyParser, "max_bytes", 100)
    monkeypatch.setattr(bodies.CSVParser, "max_bytes", 100)
    response = api.post(URL, _body(), format="json")
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]
    response = api.post(f"{URL}?category=other&reference=r", _csv([("md5", MD5)] * 10), content_type="text/csv")
    assert response.status_code == 413
    assert not RemovalRequest.objects.exists()


def test_unknown_revoked_and_missing_tokens_get_401(research, hotline, staff):
    flagger, token = research
    for client in (APIClient(), _client("td_flagger_nope"), _client("td_mirror_x"), _client("garbage")):
        response = client.post(URL, _body(), format="json")
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Bearer realm="flagger"'
    assert APIClient().get(f"{URL}?reference=x").json()["detail"] == \
        "a trusted-flagger token is required (Authorization: Bearer td_flagger_...)"
    assert _client("td_flagger_nope").get(f"{URL}?reference=x").json()["detail"] == "unknown or revoked flagger token"

    # A staff session is not a flagger.
    session = APIClient()
    session.force_login(staff)
    assert session.post(URL, _body(), format="json").status_code == 401
    assert session.get(f"{URL}?reference=x").status_code == 401

    flagger_revoke(flagger=flagger, actor=Actor(label="cli:tester"))
    response = _client(token).get(f"{URL}?reference=x")
    assert response.status_code == 401 and response.json()["detail"] == "unknown or revoked flagger token"
    assert not RemovalRequest.objects.exists()


def test_a_rotated_token_replaces_the_old_one(research):
    flagger, old = research
    new = flagger_rotate_token(flagger=flagger, actor=Actor(label="cli:tester"))
    assert new.startswith("td_flagger_") and new != old
    assert _client(old).get(f"{URL}?reference=x").status_code == 401
    assert _client(new).get(f"{URL}?reference=x").status_code == 200
    flagger.refresh_from_db()
    assert flagger.token_prefix == new[:15] and flagger.last_seen_at is not None


def test_token_lifecycle_is_audited(research):
    flagger, token = research
    assert flagger.token_hash != token and token not in json.dumps(
        list(AuditEvent.objects.values("before", "after")), default=str)
    flagger_rotate_token(flagger=flagger, actor=Actor(label="cli:tester"))
    flagger_revoke(flagger=flagger, actor=Actor(label="cli:tester"))
    flagger_revoke(flagger=flagger, actor=Actor(label="cli:tester"))  # once is enough
    events = list(AuditEvent.objects.filter(object_type="intake.trustedflagger", object_id=str(flagger.pk))
                  .order_by("id").values_list("action", "actor_label"))
    assert events == [("flagger.token_issued", "cli:tester"), ("flagger.token_issued", "cli:tester"),
                      ("flagger.revoked", "cli:tester")]
    assert flagger_authenticate(token=token) is None
    # Revoked is for good, as for a mirror: no new token brings it back.
    with pytest.raises(TakedownError, match="was revoked: it cannot get a new token"):
        flagger_rotate_token(flagger=flagger, actor=Actor(label="cli:tester"))
    flagger.refresh_from_db()
    assert flagger.revoked_at is not None and not flagger.active


def test_a_flagger_sees_only_its_own_requests(api, hotline, queued):
    ours = api.post(URL, _body(reference="ours"), format="json").json()
    theirs = _client(hotline[1]).post(URL, _body(reference="theirs"), format="json").json()

    assert api.get(f"{URL}/{ours['tracking_id']}").status_code == 200
    assert api.get(f"{URL}/{ours['tracking_id'].lower()}").status_code == 200
    response = api.get(f"{URL}/{theirs['tracking_id']}")
    assert response.status_code == 404 and theirs["tracking_id"] in response.json()["detail"]
    assert api.get(f"{URL}/TD-NOSUCHTHING").status_code == 404
    assert api.get(f"{URL}?reference=theirs").json() == []
    found = api.get(f"{URL}?reference=ours").json()
    assert [r["tracking_id"] for r in found] == [ours["tracking_id"]]
    assert api.get(URL).status_code == 400


def test_the_status_shows_the_decision_and_matches_per_release(api, release, release_on_disk, eager_tasks,
                                                               django_capture_on_commit_callbacks):
    samples = release_on_disk.data.successful()[:3]
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post(URL, _body(dataset="demo", identifiers=[{"kind": "key", "value": s.key} for s in samples]),
                           format="json").json()
    request = RemovalRequest.objects.get(tracking_id=created["tracking_id"])
    request_reject(request=request, actor=Actor(label="cli:tester"), reason="not in our remit")

    body = api.get(f"{URL}/{created['tracking_id']}").json()

    assert body["status"] == "rejected" and body["decision_reason"] == "not in our remit"
    assert body["reference"] == "sio-2023-12" and body["category"] == "other" and body["identifiers"] == 3
    assert body["decided_at"] and body["matched_at"] and body["due_at"] == created["due_at"]
    assert body["releases"] == [{"dataset": "demo", "release": "2026-11", "matches": request.matches.count()}]
    assert request.matches.count() >= 3
    assert body["hotline"] is None
    assert not {"requester_name", "requester_email", "notes", "source"} & set(body)
    assert api.get(f"{URL}?reference=sio-2023-12").json() == [body]


def test_the_status_names_the_releases_not_matched_yet_until_they_are_ready(api, release, indexing_release,
                                                                             release_on_disk):
    samples = release_on_disk.data.successful()[:2]
    created = api.post(URL, _body(dataset="demo", identifiers=[{"kind": "key", "value": s.key} for s in samples]),
                       format="json").json()
    request = RemovalRequest.objects.get(tracking_id=created["tracking_id"])
    events_drain(events_about(request=request))  # matched on arrival, as a worker would

    body = api.get(f"{URL}/{created['tracking_id']}").json()
    assert body["status"] == "received"
    assert body["releases"] == [{"dataset": "demo", "release": "2026-11", "matches": 2}]
    assert body["releases_pending"] == [{
        "dataset": "demo", "release": "2026-12", "state": "indexing, 0 of 3 shards",
        "detail": "not yet matched against demo/2026-12 (indexing, 0 of 3 shards)"}]

    run_pending()  # the release indexed and finalized, and the request matched against it
    body = api.get(f"{URL}/{created['tracking_id']}").json()
    assert body["releases"] == [{"dataset": "demo", "release": "2026-11", "matches": 2},
                                {"dataset": "demo", "release": "2026-12", "matches": 2}]
    assert body["releases_pending"] == []


def _csam(reference="iwf-1", **extra):
    return _body(reference=reference, category="csam", identifiers=[{"kind": "md5", "value": MD5}], **extra)


def test_csam_from_a_hotline_is_approved_on_receipt(hotline, queued, django_capture_on_commit_callbacks):
    assert Policy.current().csam_approve_from_hotlines
    reported = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)

    with django_capture_on_commit_callbacks(execute=True):
        response = _client(hotline[1]).post(URL, _csam(hotline={
            "hotline": "iwf", "report_id": "IWF-2026-0042", "reported_at": reported.isoformat()}), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    request = RemovalRequest.objects.get()
    assert body["status"] == request.status == "approved"
    assert request.approved_by_label == "flagger:Internet Watch Foundation" and request.approved_by is None
    assert request.due_at - request.received_at == timedelta(hours=Policy.current().csam_due_hours)
    assert request.legal_hold_until is not None
    assert queued == [("request.received", request.pk), ("request.approved", request.pk)]  # matched once, approved
    report = request.hotline_report
    assert (report.hotline, report.report_id, report.reported_at) == ("iwf", "IWF-2026-0042", reported)
    assert list(AuditEvent.objects.filter(object_id=str(request.pk), object_type="removals.removalrequest")
                .order_by("id").values_list("action", "actor_label")) == [
        ("request.received", "flagger:Internet Watch Foundation"),
        ("request.hotline_reported", "flagger:Internet Watch Foundation"),
        ("request.approved", "flagger:Internet Watch Foundation"),
    ]
    status = _client(hotline[1]).get(f"{URL}/{request.tracking_id}").json()
    assert status["hotline"] == {"hotline": "iwf", "hotline_name": "", "report_id": "IWF-2026-0042",
                                 "reported_at": "2026-11-27T09:30:00Z"}


def test_an_approved_hotline_request_is_published(hotline, release, release_on_disk, eager_tasks,
                                                  django_capture_on_commit_callbacks):
    sample = release_on_disk.data.successful()[0]
    with django_capture_on_commit_callbacks(execute=True):
        response = _client(hotline[1]).post(URL, _body(reference="iwf-live", category="csam", dataset="demo",
                                                        identifiers=[{"kind": "key", "value": sample.key}]),
                                            format="json")
    assert response.json()["status"] == "approved"
    request = RemovalRequest.objects.get()
    assert request.published_at is not None and request.status in ("published", "completed")  # no mirrors
    assert request.blocklist_versions.exists()
    assert request.matches.filter(key=sample.key).exists()


def test_with_the_policy_off_csam_from_a_hotline_waits_for_review(hotline, queued,
                                                                  django_capture_on_commit_callbacks):
    policy_update(actor=Actor(label="cli:admin"), csam_approve_from_hotlines=False)
    with django_capture_on_commit_callbacks(execute=True):
        body = _client(hotline[1]).post(f"{URL}?category=csam&reference=iwf-2&hotline=c3p&hotline_report_id=C3P-9",
                                        _csv([("md5", MD5)]), content_type="text/csv").json()
    request = RemovalRequest.objects.get()
    assert body["status"] == request.status == "received"
    assert queued == [("request.received", request.pk)]
    assert (request.hotline_report.hotline, request.hotline_report.report_id) == ("c3p", "C3P-9")
    assert not request.approvals.exists()


def test_csam_from_a_research_group_waits_for_review(api, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        body = api.post(URL, _csam(hotline={"hotline": "ncmec", "report_id": "CT-1"}), format="json").json()
    request = RemovalRequest.objects.get()
    assert body["status"] == "received" and body["category"] == "csam"
    assert queued == [("request.received", request.pk)]
    assert request.hotline_report.hotline == "ncmec"


def test_a_second_reviewer_policy_still_needs_a_person(hotline, queued, django_capture_on_commit_callbacks):
    policy_update(actor=Actor(label="cli:admin"), csam_second_reviewer=True)
    with django_capture_on_commit_callbacks(execute=True):
        body = _client(hotline[1]).post(URL, _csam(), format="json").json()
    request = RemovalRequest.objects.get()
    assert body["status"] == "received"
    assert list(request.approvals.values_list("actor_label", flat=True)) == ["flagger:Internet Watch Foundation"]
    assert queued == [("request.received", request.pk)]  # a first approval only: nothing to publish yet


def test_the_token_prefix_is_kept(research):
    flagger, token = research
    assert re.fullmatch(r"td_flagger_[A-Za-z0-9_-]{43}", token)
    assert TrustedFlagger.objects.get().token_prefix == token[:15]
