"""Staff recording what requesters send later (a DMCA notice, a hotline report), asking for information,
the command line's channel, and the requester being told when a removal is carried out."""
import pytest
from django.core import mail

from apps.audit.models import AuditEvent
from apps.core.actors import Actor
from apps.core.errors import TakedownError
from apps.core.identifiers import ParsedIdentifier
from apps.removals.legal import dmca_notice_record
from apps.removals.models import Channel, HotlineReport, RemovalRequest, Status
from apps.removals.services import Intake, hotline_report_record, request_approve, request_create
from tests.support.removals import publish

pytestmark = pytest.mark.django_db
DMCA_FIELDS = {
    "signature": "/s/ Ada Rights", "copyrighted_work": "Painting 'Harbour at dusk' (2019)",
    "infringing_material": "the sample key listed", "contact": "ada@rights.example",
    "good_faith": "on", "accurate_under_penalty": "on",
}


def _copyright(operator, dmca: dict | None = None):
    request = request_create(category="copyright", identifiers=[ParsedIdentifier(1, "key", "000001")],
                             actor=operator,
                             intake=Intake(channel=Channel.WEB_FORM, requester_email="ada@rights.example"))
    if dmca is not None:  # as the public form sends it
        dmca_notice_record(request=request, actor=operator, **dmca)
    return request


def test_staff_complete_a_dmca_notice_sent_later_and_the_request_returns_to_triage(client, staff_with, operator,
                                                                                    django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request = _copyright(operator, dmca={"signature": "Ada"})
    request.refresh_from_db()
    assert request.status == Status.NEEDS_INFO
    clerk = staff_with("clerk", "intake")
    client.force_login(clerk)
    page = client.get(f"/admin/removals/removalrequest/{request.pk}/change/").content.decode()
    assert 'id="dmca-button"' in page and "Correct or complete the notice" in page

    response = client.post(f"/admin/removals/removalrequest/{request.pk}/do/dmca/", DMCA_FIELDS, follow=True)

    request.refresh_from_db()
    assert request.status == Status.TRIAGE and request.dmca_notice.missing() == []
    assert "it is now In triage" in response.content.decode()
    assert list(AuditEvent.objects.filter(object_id=str(request.pk)).values_list("action", "actor_label")
                .order_by("id"))[-2:] == [("request.dmca_checked", "user:clerk"), ("request.triage", "system")]


def test_an_incomplete_notice_recorded_by_staff_sends_the_request_back(client, staff_with, operator):
    request = _copyright(operator)
    client.force_login(staff_with("clerk", "intake"))
    client.post(f"/admin/removals/removalrequest/{request.pk}/do/dmca/", {**DMCA_FIELDS, "good_faith": ""})
    request.refresh_from_db()
    assert request.status == Status.NEEDS_INFO and "good-faith" in request.decision_reason


def test_staff_without_a_role_cannot_record_a_dmca_notice(client, staff_with, operator):
    request = _copyright(operator)
    client.force_login(staff_with("nobody"))
    client.post(f"/admin/removals/removalrequest/{request.pk}/do/dmca/", DMCA_FIELDS)
    assert not hasattr(RemovalRequest.objects.get(pk=request.pk), "dmca_notice")


@pytest.mark.parametrize("roles, allowed", [((), False), (("intake",), False), (("intake", "restricted"), True)])
def test_a_hotline_report_needs_the_intake_and_restricted_roles(client, staff_with, operator, roles, allowed):
    request = request_create(category="csam", identifiers=[ParsedIdentifier(1, "key", "000001")], actor=operator)
    client.force_login(staff_with("someone", *roles))

    client.post(f"/admin/removals/removalrequest/{request.pk}/do/hotline/",
                {"hotline": "ncmec", "report_id": "CT-123"})

    assert HotlineReport.objects.filter(request=request, report_id="CT-123").exists() == allowed


def test_a_recorded_hotline_report_is_kept_and_cannot_be_replaced(operator, staff_with):
    request = request_create(category="csam", identifiers=[ParsedIdentifier(1, "key", "000001")], actor=operator,
                             hotline={"hotline": "iwf", "report_id": "IWF-1"})
    actor = Actor.for_user(staff_with("r", "intake", "restricted"))
    assert hotline_report_record(request=request, actor=actor, hotline="iwf", report_id="IWF-1").report_id == "IWF-1"
    with pytest.raises(TakedownError, match="kept under legal hold and cannot be replaced"):
        hotline_report_record(request=request, actor=actor, hotline="other", hotline_name="x", report_id="X")
    assert HotlineReport.objects.get(request=request).report_id == "IWF-1"


def test_intake_staff_may_ask_for_information_but_not_reject(client, staff_with, operator):
    request = _copyright(operator, dmca={k: (v == "on") if v == "on" else v for k, v in DMCA_FIELDS.items()})
    client.force_login(staff_with("clerk", "intake"))
    page = client.get(f"/admin/removals/removalrequest/{request.pk}/change/").content.decode()
    assert 'id="needs-info-button"' in page and 'id="reject-button"' not in page

    client.post(f"/admin/removals/removalrequest/{request.pk}/do/needs-info/", {"reason": "Which painting?"})

    request.refresh_from_db()
    assert request.status == Status.NEEDS_INFO and request.decision_reason == "Which painting?"


def test_the_requester_is_told_when_the_removal_is_carried_out(operator, release, release_on_disk,
                                                              django_capture_on_commit_callbacks):
    sample = release_on_disk.data.successful()[0]
    request = request_create(category="privacy", identifiers=[ParsedIdentifier(1, "key", sample.key)],
                             actor=operator, intake=Intake(channel=Channel.WEB_FORM, requester_email="dana@x.example"))
    request_approve(request=request, actor=operator)
    with django_capture_on_commit_callbacks(execute=True):
        publish(request)
        publish(request)  # again: nothing new to tell

    [message] = mail.outbox
    assert message.to == ["dana@x.example"] and request.tracking_id in message.subject
    assert "carried out" in message.subject and sample.key not in message.body


def test_import_removals_logs_its_requests_as_the_command_line_channel(run_command, tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("kind,value\nurl,https://example.org/a.jpg\n")
    out, _ = run_command("import_removals", str(path), "--category", "other")
    assert RemovalRequest.objects.get(tracking_id=out.strip().splitlines()[-1]).channel == Channel.CLI
