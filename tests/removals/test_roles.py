"""Each role against each page and action: what staff may see and do."""
import pytest
from django.utils import timezone

from apps.core.actors import Actor
from apps.core.errors import TakedownError
from apps.core.identifiers import ParsedIdentifier
from apps.removals.models import Policy, Status
from apps.removals.services import request_approve, request_create
from tests.support.removals import publish

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
    ("/admin/audit/auditevent/", {"intake", "reviewer", "legal", "restricted", "admin"}),
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
        "csam_due_hours": 24, "soon_due_hours": 6, "legal_hold_days": 400, "reminder_emails": ""},
        follow=True)
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
    publish(copyright)
    with pytest.raises(TakedownError, match="legal role"):
        counter_notice_record(request=copyright, actor=Actor.for_user(team["reviewer"]), counter_party="Uploader")
    assert counter_notice_record(request=copyright, actor=Actor.for_user(team["legal"]), counter_party="Uploader")
    with pytest.raises(TakedownError, match="legal role"):
        erasure_extend(request=requests["privacy"], actor=Actor.for_user(team["intake"]), months=1, reason="x")


# ---------------------------------------------------------------- the rest of the product, page by page

MORE_PAGES = [
    ("/admin/intake/trustedflagger/", {"admin"}),
    ("/admin/intake/trustedflagger/add/", {"admin"}),
    ("/admin/matching/match/", {"intake", "reviewer", "legal", "restricted", "admin"}),
    ("/admin/matching/allowlistentry/", {"intake", "reviewer", "legal", "restricted", "admin"}),
    ("/admin/blocklists/blocklistversion/", {"intake", "reviewer", "legal", "restricted", "admin"}),
    ("/admin/mirrors/webhookdelivery/", {"intake", "reviewer", "legal", "restricted", "admin"}),
    ("/admin/mirrors/acknowledgement/", {"intake", "reviewer", "legal", "restricted", "admin"}),
    ("/admin/mirrors/feedevent/", {"intake", "reviewer", "legal", "restricted", "admin"}),
    ("/admin/mirrors/feedretention/", {"admin"}),
    ("/admin/removals/counternotice/", {"intake", "reviewer", "legal", "restricted", "admin"}),
    ("/admin/auth/group/", {"admin"}),
]


@pytest.mark.parametrize("url, allowed", MORE_PAGES)
@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_reaches_only_its_pages_across_the_apps(client, team, url, allowed, role):
    client.force_login(team[role])
    status = client.get(url).status_code
    assert (status == 200) == (role in allowed), (role, url, status)


PUBLIC_PAGES = ["/report/", "/report/?category=copyright", "/report/status/", "/transparency/",
                "/transparency/report.csv?period=2026-11", "/.well-known/takedown/signing-keys.json"]


@pytest.mark.parametrize("url", PUBLIC_PAGES)
@pytest.mark.parametrize("role", [*ROLES, "anonymous"])
def test_public_pages_open_to_everyone_logged_in_or_not(client, team, url, role):
    if role != "anonymous":
        client.force_login(team[role])
    assert client.get(url).status_code == 200, (role, url)


@pytest.mark.parametrize("role", [*ROLES, "anonymous"])
def test_the_match_preview_api_needs_a_staff_role(client, team, role):
    if role != "anonymous":
        client.force_login(team[role])
    response = client.post("/api/v1/match/preview", {"identifiers": [{"kind": "key", "value": "000017"}]},
                           content_type="application/json")
    expected = {"anonymous": 401, "outsider": 403}.get(role, 200)
    assert response.status_code == expected, (role, response.content)
    if expected == 403:
        assert response.json()["detail"] == "only staff with the intake role may use this endpoint"


@pytest.mark.parametrize("url, method", [
    ("/api/v1/flagger/requests", "post"), ("/api/v1/flagger/requests?reference=x", "get"),
    ("/api/v1/mirror/me", "get"), ("/api/v1/mirror/feed", "get"), ("/api/v1/mirror/acks", "post"),
])
@pytest.mark.parametrize("role", [*ROLES, "anonymous"])
def test_flagger_and_mirror_apis_take_their_tokens_never_a_staff_session(client, team, url, method, role):
    if role != "anonymous":
        client.force_login(team[role])
    response = getattr(client, method)(url, {}, content_type="application/json") if method == "post" \
        else client.get(url)
    assert response.status_code == 401, (role, url, response.status_code)
    assert "token" in response.json()["detail"]


def test_matches_of_restricted_requests_are_listed_only_for_the_restricted_role(client, team, release,
                                                                               release_on_disk, operator):
    from apps.matching.services import request_match

    samples = release_on_disk.data.successful()
    for category, sample in (("csam", samples[0]), ("copyright", samples[1])):
        request = request_create(category=category, actor=operator,
                                 identifiers=[ParsedIdentifier(2, "key", sample.key)])
        request_match(request=request)
    for role, sees_csam in (("reviewer", False), ("legal", False), ("restricted", True), ("admin", True)):
        client.force_login(team[role])
        page = client.get("/admin/matching/match/").content.decode()
        assert samples[1].key in page, role
        assert (samples[0].key in page) == sees_csam, role


def test_the_audit_trail_hides_a_restricted_requests_details_from_others(client, team, requests):
    from apps.audit.models import AuditEvent

    csam = requests["csam"]
    event = AuditEvent.objects.get(action="request.received", object_id=str(csam.pk))
    url = f"/admin/audit/auditevent/{event.pk}/change/"
    client.force_login(team["legal"])
    page = client.get(url).content.decode()
    assert "csam-REF-77" not in page and "csam-source" not in page
    assert "Restricted: the details of csam and ncii requests" in page and event.hash in page
    copyright_event = AuditEvent.objects.get(action="request.received", object_id=str(requests["copyright"].pk))
    assert "copyright-REF-77" in client.get(f"/admin/audit/auditevent/{copyright_event.pk}/change/").content.decode()
    client.force_login(team["admin"])
    assert "csam-REF-77" in client.get(url).content.decode()


@pytest.mark.parametrize("role, allowed", [("outsider", False), ("intake", True), ("legal", True),
                                           ("admin", True)])
def test_the_art19_recipients_export_needs_a_staff_role(client, team, requests, role, allowed):
    client.force_login(team[role])
    response = client.get(f"/admin/removals/removalrequest/{requests['privacy'].pk}/recipients.csv")
    assert (response.status_code == 200 and response["Content-Type"] == "text/csv") == allowed, role
    if allowed:
        assert response.content.decode().startswith("mirror,contact,dataset,release")


# ---------------------------------------------------------------- mirror management: the admin role; retries: any staff

MIRROR_ACTIONS = ["rotate_token", "rotate_webhook_secret", "revoke", "reenable"]


@pytest.mark.parametrize("action", MIRROR_ACTIONS)
@pytest.mark.parametrize("role", list(ROLES))
def test_only_admins_manage_mirrors(client, team, release, role, action):
    from apps.mirrors.models import Mirror
    from apps.mirrors.services import mirror_create

    mirror = mirror_create(name="lab", datasets=[release.dataset], webhook_url="https://lab.example/hook",
                           actor=Actor.system()).mirror
    if action == "reenable":
        Mirror.objects.filter(pk=mirror.pk).update(disabled_at=timezone.now(), disabled_reason="webhooks failing")
    fields = ("token_hash", "webhook_secret", "active", "revoked_at", "disabled_at")
    before = Mirror.objects.values(*fields).get()
    client.force_login(team[role])
    listing = client.get("/admin/mirrors/mirror/")
    client.post("/admin/mirrors/mirror/", {"action": action, "_selected_action": [mirror.pk]})
    changed = Mirror.objects.values(*fields).get() != before
    assert changed == (role == "admin"), (role, action)
    assert (f'value="{action}"' in listing.content.decode()) == (role == "admin"), (role, action)


@pytest.mark.parametrize("role", list(ROLES))
def test_any_staff_role_retries_a_failed_delivery(client, team, release, release_on_disk, operator, role):
    from apps.mirrors.models import WebhookDelivery
    from apps.mirrors.services import mirror_create
    from tests.mirrors.support import publish

    mirror_create(name="lab", datasets=[release.dataset], webhook_url="https://lab.example/hook",
                  actor=Actor.system())
    publish(operator, release_on_disk.data.successful()[0].key)
    WebhookDelivery.objects.update(status="failed", next_attempt_at=None)
    client.force_login(team[role])
    response = client.post(f"/admin/mirrors/webhookdelivery/{WebhookDelivery.objects.get().pk}/retry/")
    assert (response.status_code == 302) == (role != "outsider"), (role, response.status_code)
    assert (WebhookDelivery.objects.get().status == "pending") == (role != "outsider"), role
