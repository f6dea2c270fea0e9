"""The queue in a real browser at 1440x900: intake takes the open requests, a reviewer rejects one with a reason."""
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.core.actors import Actor
from apps.core.identifiers import ParsedIdentifier
from apps.intake.flaggers import flagger_create
from apps.removals.models import Channel, RemovalRequest, Status
from apps.removals.services import Intake, request_assign, request_create, request_needs_info, request_reject
from tests.support.accounts import browser_sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1440, "height": 900}
QUEUE = "/admin/removals/removalrequest/"


def _make(operator, category, hours_ago, **kwargs):
    return request_create(category=category, actor=operator, received_at=timezone.now() - timedelta(hours=hours_ago),
                          identifiers=[ParsedIdentifier(i, "url", f"https://images.example/{category}/{i}.jpg")
                                       for i in range(1, 4)], **kwargs)


@pytest.fixture
def busy_queue(operator, staff_with):
    """A realistic queue: long sources and names, every category, flaggers, assignees, closed requests."""
    hotline, _ = flagger_create(name="Internet Watch Foundation (IWF) Hotline Reporting Desk", kind="hotline",
                                actor=operator)
    research, _ = flagger_create(name="Stanford Internet Observatory Child Safety Research Group", kind="research",
                                 actor=operator)
    colleague = staff_with("anna.katarina.lindqvist-johansson", "reviewer", "restricted")
    agency = "Rights Management Department, Example Picture Agency International Ltd. (by post)"
    requests = {
        "copyright_overdue": _make(operator, "copyright", 80, source=agency, reference="DMCA-2026-000142"),
        "ncii_soon": _make(operator, "ncii", 40, source="web form: a person pictured",
                           intake=Intake(channel=Channel.WEB_FORM)),
        "csam": _make(operator, "csam", 2, source="IWF report desk, ticket 2026-11-30/0042",
                      intake=Intake(channel=Channel.FLAGGER_API, flagger=hotline)),
        "copyright_fresh": _make(operator, "copyright", 3, source=agency),
        "privacy": request_create(
            category="privacy", actor=operator, received_at=timezone.now() - timedelta(hours=100),
            source="GDPR erasure request by email to privacy@host.example",
            identifiers=[ParsedIdentifier(i, "url", f"https://photos.example/album/{i}.jpg") for i in range(1, 1501)]),
        "research": _make(operator, "other", 1, source="SIO bulk list", intake=Intake(
            channel=Channel.FLAGGER_API, flagger=research)),
        "opt_out": _make(operator, "opt_out", 24 * 5, source="Spawning Do Not Train registry export"),
        "copyright_third": _make(operator, "copyright", 30, source=agency),
    }
    request_assign(request=requests["privacy"], assignee=colleague, actor=Actor.for_user(colleague))
    request_needs_info(request=requests["privacy"], actor=Actor.for_user(colleague), reason="Which photos?")
    closed = _make(operator, "copyright", 200, source=agency)
    request_reject(request=closed, actor=operator, reason="duplicate")
    done = _make(operator, "other", 500)
    RemovalRequest.objects.filter(pk=done.pk).update(status=Status.COMPLETED)
    return requests, [closed, done]


def _sign_in(page, live_server, user):
    browser_sign_in(page, live_server.url, user)
    expect(page.locator("#user-tools")).to_contain_text(user.username)


def _fits(page) -> None:
    widths = page.evaluate("""() => {
        const results = document.querySelector('#changelist .results');
        return {page: document.documentElement.scrollWidth, view: document.documentElement.clientWidth,
                table: results.scrollWidth, box: results.clientWidth};
    }""")
    assert widths["page"] <= widths["view"] and widths["table"] <= widths["box"], widths


def _rows(page) -> list[str]:
    return page.locator("#result_list tbody th.field-tracking_id a").all_inner_texts()


def test_intake_takes_open_requests_and_a_reviewer_rejects_one(page, live_server, busy_queue, staff_with):
    requests, closed = busy_queue
    ida = staff_with("ida", "intake")
    page.set_viewport_size(DESKTOP)
    _sign_in(page, live_server, ida)
    page.goto(live_server.url + QUEUE)

    # Only the open requests, soonest deadline first, and no horizontal scroll with every filter open.
    by_due = sorted(requests.values(), key=lambda r: r.due_at)
    expect(page.locator("#result_list tbody tr")).to_have_count(len(requests))
    assert _rows(page) == [r.tracking_id for r in by_due]
    assert not set(_rows(page)) & {r.tracking_id for r in closed}
    expect(page.locator("#changelist-filter details[open]")).to_have_count(7)
    expect(page.locator("#changelist-filter li.selected", has_text="Open (waiting)")).to_be_visible()
    overdue = page.locator("tr", has_text=requests["copyright_overdue"].tracking_id).locator(".time-left")
    expect(overdue).to_have_text("overdue by 32 h")
    expect(overdue).to_have_css("color", "rgb(186, 33, 33)")
    expect(page.locator("tr", has_text=requests["ncii_soon"].tracking_id).locator(".time-left")).to_have_text(
        "7 h left")
    # The csam request's source is not theirs to read.
    csam_row = page.locator("tr", has_text=requests["csam"].tracking_id)
    expect(csam_row.locator("td.field-origin")).to_have_text("(restricted)")
    expect(page.locator("#result_list")).not_to_contain_text("IWF report desk")
    _fits(page)

    # Filter by category, then assign two requests to themself.
    page.locator("#changelist-filter").get_by_role("link", name="Copyright", exact=True).click()
    copyright_ids = [requests[n].tracking_id for n in ("copyright_overdue", "copyright_third", "copyright_fresh")]
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    assert _rows(page) == copyright_ids
    _fits(page)
    for tracking_id in copyright_ids[:2]:
        page.locator("tr", has_text=tracking_id).locator("input.action-select").check()
    page.locator("select[name=action]").select_option(label="Assign selected requests to me")
    page.get_by_role("button", name="Go").click()
    expect(page.locator(".messagelist:not([id])")).to_contain_text("Assigned 2 request(s) to you.")
    for tracking_id in copyright_ids[:2]:
        expect(page.locator("tr", has_text=tracking_id).locator("td.field-assigned")).to_have_text("ida")
    expect(page.locator("tr", has_text=copyright_ids[2]).locator("td.field-assigned")).to_have_text("–")
    assert list(RemovalRequest.objects.filter(assignee=ida).order_by("due_at").values_list(
        "tracking_id", flat=True)) == copyright_ids[:2]
    # Intake is not offered what reviewers do.
    assert "Reject selected requests, saying why" not in page.locator("select[name=action]").inner_text()

    # A reviewer rejects one of them, giving the reason on the confirmation page.
    page.context.clear_cookies()
    rita = staff_with("rita", "reviewer")
    _sign_in(page, live_server, rita)
    page.goto(f"{live_server.url}{QUEUE}?assignee={ida.pk}&status__exact=open")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    page.locator("tr", has_text=copyright_ids[1]).locator("input.action-select").check()
    page.locator("select[name=action]").select_option(label="Reject selected requests, saying why")
    page.get_by_role("button", name="Go").click()
    expect(page.locator("#reject-requests")).to_have_text(f"{copyright_ids[1]} (copyright, received)")
    page.get_by_label("Reason:").fill("The work named is not in any of our datasets.")
    page.get_by_role("button", name="Reject 1 request").click()
    expect(page.locator(".messagelist:not([id])")).to_contain_text("Rejected 1 request(s).")
    expect(page).to_have_url(re.compile(rf"assignee={ida.pk}"))
    expect(page.locator("#result_list tbody tr")).to_have_count(1)  # the rejected one has left the open view
    rejected = RemovalRequest.objects.get(tracking_id=copyright_ids[1])
    assert (rejected.status, rejected.decision_reason) == (Status.REJECTED,
                                                           "The work named is not in any of our datasets.")
