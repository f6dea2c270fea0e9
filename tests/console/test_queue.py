"""The queue (the removal-request list): open by default, by time left, its filters and its bulk actions by role."""
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core.actors import Actor
from apps.core.errors import TakedownError
from apps.core.identifiers import ParsedIdentifier
from apps.intake.flaggers import flagger_create
from apps.removals.models import Channel, RemovalRequest, Status
from apps.removals.services import (
    Intake,
    request_approve,
    request_assign,
    request_create,
    request_reject,
    request_transition,
)

pytestmark = pytest.mark.django_db

QUEUE = "/admin/removals/removalrequest/"
LONG_SOURCE = "Rights Management Department, Example Picture Agency International Ltd."


def _make(operator, category="copyright", *, ago=timedelta(0), **kwargs):
    return request_create(category=category, actor=operator, received_at=timezone.now() - ago,
                          identifiers=[ParsedIdentifier(1, "url", f"https://img.example/{category}.jpg")], **kwargs)


@pytest.fixture
def queue(operator):
    """Five open requests (one of each kind of clock) and two closed ones."""
    overdue = _make(operator, ago=timedelta(days=4), source=LONG_SOURCE)  # due 2 days ago
    soon = _make(operator, "ncii", ago=timedelta(hours=42, minutes=30))  # due in 5 h 30
    approved = _make(operator, ago=timedelta(days=1, hours=1))  # due in 23 h
    request_approve(request=approved, actor=operator)
    triage = _make(operator, ago=timedelta(hours=12))  # due in 36 h
    request_transition(request=triage, to=Status.TRIAGE, actor=operator)
    later = _make(operator, "other", intake=Intake(channel=Channel.WEB_FORM))  # due in 30 days
    rejected = _make(operator, ago=timedelta(hours=1))
    request_reject(request=rejected, actor=operator, reason="not ours")
    published = _make(operator, "other", ago=timedelta(days=40))
    RemovalRequest.objects.filter(pk=published.pk).update(status=Status.PUBLISHED)
    return {"overdue": overdue, "soon": soon, "approved": approved, "triage": triage, "later": later,
            "rejected": rejected, "published": published}


def _listed(client, query: str = "") -> list[str]:
    """Tracking ids of the rows the queue lists, in order."""
    response = client.get(QUEUE + query)
    assert response.status_code == 200
    return re.findall(r'<th class="field-tracking_id"><a href="[^"]+">(TD-\w+)</a>', response.content.decode())


def _ids(queue, *names) -> list[str]:
    return [queue[name].tracking_id for name in names]


def test_it_opens_on_the_open_requests_sorted_by_time_left(client, queue, staff_with):
    client.force_login(staff_with("ida", "intake"))
    assert _listed(client) == _ids(queue, "overdue", "soon", "approved", "triage", "later")
    # Sorting from the open view keeps it open (the links carry the filter); so does coming back to it bare.
    page = client.get(QUEUE).content.decode()
    assert "status__exact=open" in page and 'href="?status__exact=all"' in page
    assert _listed(client, "?o=-7") == _ids(queue, "later", "triage", "approved", "soon", "overdue")


def test_all_is_one_click_away_and_explicit_filters_are_not_overridden(client, queue, staff_with):
    client.force_login(staff_with("ida", "intake"))
    assert set(_listed(client, "?status__exact=all")) == {r.tracking_id for r in queue.values()}
    assert _listed(client, "?status__exact=rejected") == _ids(queue, "rejected")
    assert _listed(client, "?status__exact=open&status__exact=received") == _ids(queue, "overdue", "soon", "later")
    # A link that names other filters (the deadline banner's, a category's) or a search is taken as it is.
    assert queue["rejected"].tracking_id in _listed(client, "?category__exact=copyright")
    assert _listed(client, f"?q={queue['published'].tracking_id}") == _ids(queue, "published")
    assert _listed(client, "?due=overdue") == _ids(queue, "overdue")


def test_time_left_says_how_long_in_amber_when_due_soon_and_red_when_overdue(client, queue, staff_with):
    client.force_login(staff_with("ida", "intake"))
    page = client.get(QUEUE + "?status__exact=all").content.decode()
    assert re.search(r'class="time-left time-left-overdue" title="due [\d-]+ [\d:]+ UTC">overdue by 2 d<', page)
    assert re.search(r'class="time-left time-left-soon" title="[^"]+">5 h left<', page)
    assert re.search(r'class="time-left time-left-soon" title="[^"]+">2[23] h left<', page)
    assert re.search(r'class="time-left time-left-ok" title="[^"]+">3[45] h left<', page)
    assert re.search(r'class="time-left time-left-ok" title="[^"]+">(29|30) d left<', page)
    assert page.count('title="due ') == 7 and page.count('">–</span>') >= 2  # closed requests: no clock
    assert "console/queue.css" in page
    # The long source is cut short, whole in its title with the channel.
    assert f'<span title="{LONG_SOURCE} (Staff (admin))">Rights Manageme…</span>' in page
    assert '<span title="Public web form">Public web form</span>' in page  # no source: the channel


def test_it_filters_by_category_status_channel_and_deadline(client, queue, staff_with):
    client.force_login(staff_with("ida", "intake"))
    assert _listed(client, "?status__exact=open&category__exact=ncii") == _ids(queue, "soon")
    assert _listed(client, "?status__exact=triage") == _ids(queue, "triage")
    assert _listed(client, "?status__exact=approved") == _ids(queue, "approved")
    assert _listed(client, "?status__exact=open&channel__exact=web_form") == _ids(queue, "later")
    assert _listed(client, "?status__exact=open&due=soon") == _ids(queue, "soon", "approved")


def test_it_filters_by_assignee(client, queue, staff_with, operator):
    ida, rita = staff_with("ida", "intake"), staff_with("rita", "reviewer")
    request_assign(request=queue["triage"], assignee=ida, actor=operator)
    request_assign(request=queue["later"], assignee=rita, actor=operator)
    client.force_login(ida)
    assert _listed(client, "?status__exact=open&assignee=me") == _ids(queue, "triage")
    assert _listed(client, "?status__exact=open&assignee=none") == _ids(queue, "overdue", "soon", "approved")
    assert _listed(client, f"?status__exact=open&assignee={rita.pk}") == _ids(queue, "later")
    page = client.get(QUEUE).content.decode()
    assert "Assigned to me" in page and f"assignee={rita.pk}" in page
    assert '<td class="field-assigned"><span title="rita">rita</span></td>' in page


@pytest.fixture
def flagged(operator):
    """A hotline that sent a csam request and a copyright one; another that sent only csam."""
    both, _ = flagger_create(name="Both Kinds Hotline", kind="hotline", actor=operator)
    csam_only, _ = flagger_create(name="Csam Only Hotline", kind="hotline", actor=operator)
    return {
        "both": both, "csam_only": csam_only,
        "both_csam": _make(operator, "csam", intake=Intake(channel=Channel.FLAGGER_API, flagger=both)),
        "both_copyright": _make(operator, intake=Intake(channel=Channel.FLAGGER_API, flagger=both)),
        "only_csam": _make(operator, "csam", intake=Intake(channel=Channel.FLAGGER_API, flagger=csam_only)),
    }


def test_the_flagger_filter_never_tells_staff_without_restricted_who_sent_csam(client, flagged, staff_with):
    both, csam_only = flagged["both"], flagged["csam_only"]
    client.force_login(staff_with("ida", "intake"))
    assert _listed(client, f"?flagger={both.pk}") == [flagged["both_copyright"].tracking_id]
    assert _listed(client, f"?flagger={csam_only.pk}") == []
    assert _listed(client, f"?flagger={csam_only.pk}&_facets=True") == []
    page = client.get(QUEUE + "?_facets=True").content.decode()
    assert "Both Kinds Hotline (1)" in page  # its count leaves the csam request out
    assert "Csam Only Hotline" not in page  # listing it would say it sent something they may not see
    assert _listed(client, "?flagger=x") == []

    client.force_login(staff_with("rex", "reviewer", "restricted"))
    assert set(_listed(client, f"?flagger={both.pk}")) == {flagged["both_csam"].tracking_id,
                                                           flagged["both_copyright"].tracking_id}
    assert _listed(client, f"?flagger={csam_only.pk}") == [flagged["only_csam"].tracking_id]
    assert "Csam Only Hotline" in client.get(QUEUE).content.decode()


def test_a_restricted_requests_source_stays_masked_in_the_queue(client, operator, staff_with):
    _make(operator, "csam", source="CT-Hotline desk 4")
    client.force_login(staff_with("ida", "intake"))
    page = client.get(QUEUE).content.decode()
    assert "CT-Hotline desk 4" not in page and '<span title="(restricted) (Staff (admin))">(restricted)</span>' in page
    client.force_login(staff_with("rex", "intake", "restricted"))
    assert "CT-Hotline desk 4" in client.get(QUEUE).content.decode()


# ---------------------------------------------------------------- assigning

def test_assigning_is_audited_and_checks_both_people(operator, staff_with):
    ida, rex, outsider = staff_with("ida", "intake"), staff_with("rex", "reviewer", "restricted"), staff_with("out")
    copyright_request, csam = _make(operator), _make(operator, "csam")

    assigned = request_assign(request=copyright_request, assignee=ida, actor=Actor.for_user(ida))
    assert assigned.assignee == ida
    event = AuditEvent.objects.get(action="request.assigned")
    assert (event.actor_label, event.before, event.after) == ("user:ida", {"assignee": None}, {"assignee": "ida"})
    request_assign(request=copyright_request, assignee=ida, actor=Actor.for_user(ida))  # no change: no event
    assert AuditEvent.objects.filter(action="request.assigned").count() == 1
    request_assign(request=copyright_request, assignee=None, actor=Actor.for_user(rex))
    event = AuditEvent.objects.get(action="request.unassigned")
    assert (event.before, event.after) == ({"assignee": "ida"}, {"assignee": None})

    with pytest.raises(TakedownError, match="only staff with the intake role may assign"):
        request_assign(request=copyright_request, assignee=outsider, actor=Actor.for_user(outsider))
    with pytest.raises(TakedownError, match="out cannot be assigned requests: they hold no staff role"):
        request_assign(request=copyright_request, assignee=outsider, actor=Actor.for_user(ida))
    with pytest.raises(TakedownError, match="only staff with the restricted role may assign a csam request"):
        request_assign(request=csam, assignee=rex, actor=Actor.for_user(ida))
    with pytest.raises(TakedownError, match="ida cannot be assigned a csam request"):
        request_assign(request=csam, assignee=ida, actor=Actor.for_user(rex))
    request_assign(request=csam, assignee=rex, actor=Actor.for_user(rex))
    assert RemovalRequest.objects.get(pk=csam.pk).assignee == rex


def test_the_request_page_shows_the_assignee(client, operator, staff_with):
    ida = staff_with("ida", "intake")
    request = _make(operator)
    client.force_login(ida)
    url = f"{QUEUE}{request.pk}/change/"
    assert re.search(r"<label>Assignee:</label>\s*<div class=\"readonly\">–</div>", client.get(url).content.decode())
    request_assign(request=request, assignee=ida, actor=operator)
    assert re.search(r'<label>Assignee:</label>\s*<div class="readonly"><span title="ida">ida</span></div>',
                     client.get(url).content.decode())


# ---------------------------------------------------------------- bulk actions

def _actions_offered(client) -> set[str]:
    return set(re.findall(r'<option value="(\w+)"', client.get(QUEUE).content.decode())) - {""}


def test_only_the_actions_a_role_allows_are_offered(client, queue, staff_with):
    client.force_login(staff_with("ida", "intake"))
    assert _actions_offered(client) == {"assign_to_me", "unassign_selected", "triage_selected"}
    client.force_login(staff_with("rita", "reviewer"))
    assert _actions_offered(client) == {"assign_to_me", "unassign_selected", "triage_selected", "approve_selected",
                                        "reject_selected"}
    client.force_login(staff_with("lee", "legal"))
    assert _actions_offered(client) == {"assign_to_me", "unassign_selected", "triage_selected"}


def _bulk(client, action: str, *requests, **extra):
    return client.post(QUEUE, {"action": action, "_selected_action": [r.pk for r in requests], **extra}, follow=True)


def test_intake_assigns_to_themself_and_unassigns_in_bulk_but_not_a_restricted_request(client, operator, staff_with):
    ida = staff_with("ida", "intake")
    one, two, csam = _make(operator), _make(operator, "privacy"), _make(operator, "csam")
    client.force_login(ida)
    page = _bulk(client, "assign_to_me", one, two, csam).content.decode()
    assert "Assigned 2 request(s) to you." in page
    assert f"Not done: {csam.tracking_id}: only staff with the restricted role may assign a csam request" in page
    assert set(RemovalRequest.objects.filter(assignee=ida).values_list("pk", flat=True)) == {one.pk, two.pk}
    assert AuditEvent.objects.filter(action="request.assigned", actor_label="user:ida").count() == 2

    page = _bulk(client, "unassign_selected", one, two).content.decode()
    assert "Unassigned 2 request(s)." in page
    assert not RemovalRequest.objects.exclude(assignee=None).exists()
    assert AuditEvent.objects.filter(action="request.unassigned", actor_label="user:ida").count() == 2


def test_intake_moves_requests_to_triage_in_bulk_and_is_told_which_could_not(client, queue, operator, staff_with):
    client.force_login(staff_with("ida", "intake"))
    page = _bulk(client, "triage_selected", queue["overdue"], queue["later"], queue["approved"]).content.decode()
    assert "Moved 2 request(s) to triage." in page
    assert (f"Not done: {queue['approved'].tracking_id}: {queue['approved'].tracking_id} is approved (publishing): "
            "it cannot become in triage") in page
    statuses = dict(RemovalRequest.objects.values_list("tracking_id", "status"))
    assert [statuses[queue[n].tracking_id] for n in ("overdue", "later", "approved")] == ["triage", "triage",
                                                                                          "approved"]
    assert AuditEvent.objects.filter(action="request.triage", actor_label="user:ida").count() == 2


def test_approving_in_bulk_is_for_reviewers_and_csam_needs_restricted(client, operator, staff_with):
    copyright_request, csam = _make(operator), _make(operator, "csam")
    client.force_login(staff_with("ida", "intake"))
    page = _bulk(client, "approve_selected", copyright_request).content.decode()
    assert "No action selected." in page  # not offered to intake, so not done either
    assert RemovalRequest.objects.get(pk=copyright_request.pk).status == Status.RECEIVED

    client.force_login(staff_with("rita", "reviewer"))
    page = _bulk(client, "approve_selected", copyright_request, csam).content.decode()
    assert "Approved 1 request(s); their blocklists are being published." in page
    assert f"Not done: {csam.tracking_id}: only staff with the restricted role may approve a csam request" in page
    assert RemovalRequest.objects.get(pk=copyright_request.pk).status == Status.APPROVED
    assert RemovalRequest.objects.get(pk=csam.pk).status == Status.RECEIVED
    assert AuditEvent.objects.filter(action="request.approved", actor_label="user:rita").count() == 1

    client.force_login(staff_with("rex", "reviewer", "restricted"))
    assert "Approved 1 request(s)" in _bulk(client, "approve_selected", csam).content.decode()
    assert RemovalRequest.objects.get(pk=csam.pk).status == Status.APPROVED


def test_a_reviewer_rejects_in_bulk_with_a_reason_given_on_a_confirmation_page(client, operator, staff_with):
    one, two, ncii = _make(operator), _make(operator, "other"), _make(operator, "ncii")
    client.force_login(staff_with("ida", "intake"))
    assert "No action selected." in _bulk(client, "reject_selected", one).content.decode()

    client.force_login(staff_with("rita", "reviewer"))
    confirm = _bulk(client, "reject_selected", one, two, ncii)
    page = confirm.content.decode()
    assert confirm.templates[0].name == "admin/removals/removalrequest/reject_selected.html"
    assert "Reject 3 requests?" in page and f"{ncii.tracking_id} (ncii, received)" in page
    assert not RemovalRequest.objects.filter(status=Status.REJECTED).exists()  # nothing yet

    page = _bulk(client, "reject_selected", one, two, ncii, post="yes", reason="  ").content.decode()
    assert "Say why the requests are rejected." in page
    assert not RemovalRequest.objects.filter(status=Status.REJECTED).exists()

    page = _bulk(client, "reject_selected", one, two, ncii, post="yes", reason="Not in our datasets.").content.decode()
    assert "Rejected 2 request(s)." in page
    assert f"Not done: {ncii.tracking_id}: only staff with the restricted role may reject a ncii request" in page
    rejected = RemovalRequest.objects.filter(status=Status.REJECTED)
    assert set(rejected.values_list("pk", flat=True)) == {one.pk, two.pk}
    assert set(rejected.values_list("decision_reason", flat=True)) == {"Not in our datasets."}
    assert AuditEvent.objects.filter(action="request.rejected", actor_label="user:rita",
                                     after__reason="Not in our datasets.").count() == 2
