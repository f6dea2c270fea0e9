"""Which identifier kinds each category and channel may use: whole sites only for proven opt-outs, or staff."""
import pytest
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.blocklists.models import BlocklistVersion
from apps.core.actors import Actor
from apps.intake.flaggers import flagger_create
from apps.removals.models import RemovalRequest, Status
from apps.removals.services import request_approve

URL = "/api/v1/flagger/requests"


def _client(kind: str) -> APIClient:
    _, token = flagger_create(name=f"a {kind}", kind=kind, actor=Actor(label="cli:tester"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def test_a_hotline_cannot_remove_a_whole_domain_as_csam(release, django_capture_on_commit_callbacks):
    hotline = _client("hotline")
    with django_capture_on_commit_callbacks(execute=True):
        response = hotline.post(URL, {"category": "csam", "reference": "iwf-1", "identifiers": [
            {"kind": "domain", "value": "pinimg.com"}]}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "domain pinimg.com: domain identifiers remove every sample of a site: only opt-out requests may name "
        "domains and URL prefixes")
    csv = hotline.post(f"{URL}?category=csam&reference=iwf-2", "kind,value\nmd5,"
                       + "0" * 32 + "\nurl_prefix,https://i.pinimg.com/\n", content_type="text/csv")
    assert csv.status_code == 400
    assert csv.json()["detail"].startswith("line 3: url_prefix identifiers remove every sample of a site")
    assert not RemovalRequest.objects.exists() and not BlocklistVersion.objects.exists()


def test_a_flagger_may_send_an_opt_out_by_domain_for_review(release):
    response = _client("rights_holder").post(URL, {"category": "opt_out", "reference": "o-1", "identifiers": [
        {"kind": "domain", "value": "artist.example"}]}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "received"


def test_the_command_line_refuses_a_domain_unless_staff_allow_it(run_command, release, tmp_path):
    path = tmp_path / "site.csv"
    path.write_text("kind,value\ndomain,pinimg.com\n")
    with pytest.raises(CommandError, match="line 2: domain identifiers remove every sample of a site: only opt-out "
                                           "requests may name domains and URL prefixes \\(staff may allow them "
                                           "for this request with --allow-broad\\)"):
        run_command("import_removals", str(path), "--category", "csam")
    assert not RemovalRequest.objects.exists()

    run_command("import_removals", str(path), "--category", "csam", "--allow-broad")
    request = RemovalRequest.objects.get()
    assert request.status == Status.RECEIVED
    # Never approved without review, by any policy.
    request_approve(request=request, actor=Actor(label="policy:test"), automatic=True)
    request.refresh_from_db()
    assert request.status == Status.RECEIVED
    withheld = AuditEvent.objects.get(action="request.auto_approval_withheld", object_id=str(request.pk))
    assert "it names domains or URL prefixes in a csam request" in withheld.after["reason"]
    # A person may.
    request_approve(request=request, actor=Actor.operator())
    request.refresh_from_db()
    assert request.status == Status.APPROVED


def test_the_admin_form_refuses_a_domain_unless_staff_allow_it(client, staff, release):
    client.force_login(staff)
    form = {"category": "privacy", "source": "email", "reference": "x", "notes": "",
            "identifiers_csv": "kind,value\nurl_prefix,https://people.example/\n"}
    refused = client.post("/admin/removals/removalrequest/add/", form)
    assert refused.status_code == 200
    assert "line 2: url_prefix identifiers remove every sample of a site" in refused.content.decode()
    assert not RemovalRequest.objects.exists()

    client.post("/admin/removals/removalrequest/add/", {**form, "allow_broad": "on"})
    assert RemovalRequest.objects.get().identifiers.get().kind == "url_prefix"
