"""Each role against each page and action: what staff may see and do."""
import pytest

from apps.core.actors import Actor
from apps.core.errors import TakedownError
from apps.removals.models import Policy, Status
from apps.removals.parsing import ParsedIdentifier
from apps.removals.services import request_approve, request_create, request_publish

ROLES = {
    "intake": ("intake",),
    "reviewer": ("reviewer",),
    "legal": ("legal",),
    "restricted": ("reviewer", "restricted"),
    "admin": ("admin", "restricted"),
    "outsider": (),
}


@pytest.fixture
def team(staff_with):
    return {name: staff_with(name, *groups) for name, groups in ROLES.items()}


@pytest.fixture
def requests(db, operator):
    """A request of three categories (no release needed: roles are about who may see and do what)."""
    return {
        category: request_create(
            category=category, actor=operator, source=f"{category}-source", reference=f"{category}-REF-77",
            identifiers=[ParsedIdentifier(2, "key", f"00000{number}7")])
        for number, category in enumerate(("csam", "copyright", "privacy"))
    }


PAGES = [
    ("/admin/removals/removalrequest/", {"intake", "reviewer", "legal", "restricted", "admin"}),
    ("/admin/removals/removalrequest/add/", {"intake", "reviewer", "legal", "restricted", "admin"}),
    ("/admin/audit/auditevent/", {"legal", "admin"}),
    ("/admin/mirrors/mirror/", {"intake", "reviewer", "legal", "restricted", "admin"}),
    ("/admin/mirrors/mirror/add/", {"admin"}),
    ("/admin/matching/allowlistentry/add/", {"reviewer", "restricted", "admin"}),
    ("/admin/removals/policy/1/change/", {"intake", "reviewer", "legal", "restricted", "admin"}),
    ("/admin/datasets/release/", {"intake", "reviewer", "legal", "restricted", "admin"}),
    ("/admin/auth/user/", {"admin"}),
]


@pytest.mark.parametrize("url, allowed", PAGES)
@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_reaches_only_its_pages(client, team, requests, url, allowed, role):
    Policy.current()
    client.force_login(team[role])
    status = client.get(url).status_code
    assert (status == 200) == (role in allowed), (role, url, status)


@pytest.mark.parametrize("role", list(ROLES))
def test_only_restricted_staff_see_what_a_csam_request_names(client, team, requests, role):
    request = requests["csam"]
    client.force_login(team[role])
    response = client.get(f"/admin/removals/removalrequest/{request.pk}/change/")
    if role == "outsider":
        assert response.status_code == 403
        return
    page = response.content.decode()
    sample_key = request.identifiers.get().value
    if role in ("restricted", "admin"):
        assert sample_key in page and "csam-REF-77" in page
    else:
        assert "Restricted." in page
        assert sample_key not in page and "csam-REF-77" not in page and "csam-source" not in page
        assert request.tracking_id in page  # that it exists, its category and clock stay visible
    listing = client.get("/admin/removals/removalrequest/").content.decode()
    if role in ("restricted", "admin"):
        assert "csam-source" in listing
    elif role != "outsider":
        assert "csam-source" not in listing and "copyright-source" in listing


@pytest.mark.parametrize("role, category, allowed", [
    ("intake", "copyright", False), ("reviewer", "copyright", True), ("legal", "copyright", False),
    ("reviewer", "csam", False), ("restricted", "csam", True), ("admin", "csam", True),
    ("outsider", "copyright", False),
])
def test_approving_needs_the_reviewer_role_and_restricted_for_csam(team, requests, role, category, allowed):
    actor = Actor.for_user(team[role])
    if allowed:
        assert request_approve(request=requests[category], actor=actor).status == Status.APPROVED
    else:
        with pytest.raises(TakedownError, match="only staff with the"):
            request_approve(request=requests[category], actor=actor)


def test_the_approve_button_shows_only_to_those_who_may_approve(client, team, requests):
    url = f"/admin/removals/removalrequest/{requests['copyright'].pk}/change/"
    for role, shown in (("intake", False), ("reviewer", True), ("legal", False), ("admin", True)):
        client.force_login(team[role])
        assert ('id="approve-button"' in client.get(url).content.decode()) == shown, role
    client.force_login(team["intake"])
    client.post(f"/admin/removals/removalrequest/{requests['copyright'].pk}/do/approve/")
    requests["copyright"].refresh_from_db()
    assert requests["copyright"].status == Status.RECEIVED


def test_a_csam_approval_can_need_a_second_reviewer(team, requests, staff_with):
    from apps.removals.services import policy_update

    policy_update(actor=Actor.for_user(team["admin"]), csam_second_reviewer=True)
    request = requests["csam"]
    first = Actor.for_user(team["restricted"])
    assert request_approve(request=request, actor=first).status == Status.RECEIVED
    with pytest.raises(TakedownError, match="a second reviewer must approve it"):
        request_approve(request=request, actor=first)
    second = Actor.for_user(staff_with("second", "reviewer", "restricted"))
    assert request_approve(request=request, actor=second).status == Status.APPROVED
    assert list(request.approvals.values_list("actor_label", flat=True)) == ["user:restricted", "user:second"]


def test_only_admins_change_the_policy_and_each_change_is_audited(client, team):
    from apps.audit.models import AuditEvent

    Policy.current()
    client.force_login(team["legal"])
    assert client.post("/admin/removals/policy/1/change/", {"soon_due_hours": 2}).status_code == 403
    client.force_login(team["admin"])
    response = client.post("/admin/removals/policy/1/change/", {
        "csam_second_reviewer": "on", "csam_approve_from_hotlines": "on", "opt_out_review": "always",
        "soon_due_hours": 6, "legal_hold_days": 400, "reminder_emails": ""}, follow=True)
    assert response.status_code == 200
    policy = Policy.current()
    assert (policy.csam_second_reviewer, policy.opt_out_review, policy.soon_due_hours) == (True, "always", 6)
    event = AuditEvent.objects.get(action="policy.changed")
    assert event.actor_label == "user:admin"
    assert event.after == {"csam_second_reviewer": True, "opt_out_review": "always", "soon_due_hours": 6,
                           "legal_hold_days": 400}


def test_publishing_and_legal_actions_respect_roles(team, requests, operator, release):
    from apps.removals.legal import counter_notice_record, erasure_extend

    copyright = requests["copyright"]
    request_approve(request=copyright, actor=operator)
    request_publish(request=copyright, actor=operator)
    with pytest.raises(TakedownError, match="legal role"):
        counter_notice_record(request=copyright, actor=Actor.for_user(team["reviewer"]), counter_party="Uploader")
    assert counter_notice_record(request=copyright, actor=Actor.for_user(team["legal"]), counter_party="Uploader")
    with pytest.raises(TakedownError, match="legal role"):
        erasure_extend(request=requests["privacy"], actor=Actor.for_user(team["intake"]), months=1, reason="x")
