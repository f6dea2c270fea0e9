"""Restricted means restricted everywhere: a generated crawl.

A csam request from a hotline flagger and an ncii request from the public web form carry canary strings in every
field only restricted staff may read (source, reference, notes, hotline report id, the flagger's name, the
requester, who approved, the identifiers). Then every page of the admin (every model's list, with and without a
search for each canary, its filters, every object's change, history and delete pages, the request actions and
exports) and every API and public page is visited as each staff role without `restricted`, anonymously and as
another flagger: no response may contain a canary, and no search for one may find the restricted requests. The
same crawl as restricted staff finds the canaries, so the test can see a leak when there is one.
"""
import re
import uuid
from urllib.parse import quote

import pytest
from django.contrib import admin
from django.urls import reverse
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.core.actors import Actor
from apps.core.identifiers import ParsedIdentifier
from apps.intake.flaggers import flagger_create
from apps.intake.models import TrustedFlagger
from apps.removals.models import Channel, RemovalRequest
from apps.removals.services import Intake, request_approve, request_create
from tests.support.removals import publish

SUFFIX = uuid.uuid4().hex[:8]
CANARIES = {
    "source": f"CnrySource{SUFFIX}",
    "reference": f"CnryRef{SUFFIX}",
    "notes": f"CnryNotes{SUFFIX}",
    "hotline_report_id": f"CnryHotline{SUFFIX}",
    "flagger": f"CnryFlagger{SUFFIX}",
    "requester_name": f"CnryRequester{SUFFIX}",
    "requester_email": f"cnrymail{SUFFIX}@example.org",
    "approver": f"cnryapprover{SUFFIX}",
    "identifier": f"cnryhost{SUFFIX}.example",
}
UNPRIVILEGED = {"intake": ("intake",), "reviewer": ("reviewer",), "legal": ("legal",), "admin": ("admin",)}


@pytest.fixture
def world(db, release, staff_with, operator):
    """The two restricted requests, matched and published, and an ordinary one beside them."""
    flagger, token = flagger_create(name=CANARIES["flagger"], kind=TrustedFlagger.Kind.HOTLINE, actor=operator)
    sample = _a_sample(release)
    # As a hotline sends it: over the flagger API, approved by policy on arrival.
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    body = f"kind,value\nurl,{sample['url']}\nurl,https://{CANARIES['identifier']}/a.jpg\n"
    response = api.post(f"/api/v1/flagger/requests?category=csam&reference={CANARIES['reference']}"
                        f"&hotline=iwf&hotline_report_id={CANARIES['hotline_report_id']}",
                        data=body, content_type="text/csv")
    assert response.status_code == 201, response.content
    csam = RemovalRequest.objects.get(tracking_id=response.json()["tracking_id"])
    publish(csam)
    approver = staff_with(CANARIES["approver"], "reviewer", "restricted")
    ncii = request_create(
        category="ncii", actor=operator, source=CANARIES["source"], reference=CANARIES["reference"],
        notes=CANARIES["notes"], identifiers=[ParsedIdentifier(2, "url", f"https://{CANARIES['identifier']}/b.jpg")],
        intake=Intake(channel=Channel.WEB_FORM, requester_name=CANARIES["requester_name"],
                      requester_email=CANARIES["requester_email"]))
    request_approve(request=ncii, actor=Actor.for_user(approver))
    publish(ncii)
    ordinary = request_create(category="copyright", actor=operator, source="ordinary source",
                              identifiers=[ParsedIdentifier(2, "key", sample["key"])])
    _, other_token = flagger_create(name="Another hotline", kind=TrustedFlagger.Kind.HOTLINE, actor=operator)
    restricted_events = set(AuditEvent.objects.filter(
        object_type="removals.removalrequest", object_id__in=[str(csam.pk), str(ncii.pk)]).values_list("pk", flat=True))
    return {"csam": csam, "ncii": ncii, "csam_sample_url": sample["url"], "ordinary": ordinary,
            "restricted_events": restricted_events,
            "other_flagger_token": other_token,
            "flagger_token": token}


def _a_sample(release) -> dict:
    from apps.datasets.selectors import release_samples

    return release_samples(release=release, limit=1)[0]


def _admin_urls(world) -> list[str]:
    """Every page of the admin that lists or shows objects, as many as there are objects."""
    urls = ["/admin/"]
    for model, model_admin in admin.site._registry.items():
        info = model._meta.app_label, model._meta.model_name
        changelist = reverse(f"admin:{info[0]}_{info[1]}_changelist")
        urls += [changelist, reverse(f"admin:{info[0]}_{info[1]}_add"), f"/admin/{info[0]}/"]
        for name in CANARIES.values():
            urls.append(f"{changelist}?q={name[:-3]}")  # a search that names part of a canary
        for spec in model_admin.list_filter:
            field = spec if isinstance(spec, str) else None
            if field:
                urls.append(f"{changelist}?{field}__exact=csam")
        for pk in model._default_manager.values_list("pk", flat=True)[:200]:
            for view in ("change", "history", "delete"):
                urls.append(reverse(f"admin:{info[0]}_{info[1]}_{view}", args=[pk]))
    for request in (world["csam"], world["ncii"]):
        urls.append(reverse("admin:removals_removalrequest_recipients", args=[request.pk]))
    # Lookup: part of each canary (as the searches above), and the dataset URL the csam request names (an
    # ordinary request names that sample's key): the csam request must not be listed for it.
    urls += [f"/admin/lookup/?q={name[:-3]}" for name in CANARIES.values()]
    urls.append(f"/admin/lookup/?q={quote(world['csam_sample_url'], safe='')}")
    audit = reverse("admin:audit_auditevent_changelist")
    urls += [f"{audit}?object_type__exact=removals.removalrequest",
             *(f"{audit}?object_type__exact=removals.removalrequest&q={name[:-3]}" for name in CANARIES.values())]
    return urls


def _public_urls(world) -> list[tuple[str, str]]:
    """(url, token or ""): the APIs as another flagger, and the public pages."""
    other = world["other_flagger_token"]
    urls = [(f"/api/v1/flagger/requests?reference={CANARIES['reference']}", other),
            (f"/api/v1/flagger/requests/{world['csam'].tracking_id}", other),
            ("/transparency/", ""), ("/transparency/report.csv", ""), ("/report/status/", ""),
            ("/api/schema/", "")]
    return urls


# Names that are not secret on their own (staff manage flaggers and users): what is restricted is that they sent or
# approved a csam or ncii request, so they count only on pages about such a request or its audit events.
LINKED_ONLY = {"flagger", "approver"}


def _about_restricted(url: str, world) -> bool:
    if not url.startswith("/admin/"):
        return True
    if url.startswith("/admin/removals/removalrequest/"):
        return True
    if url.startswith("/admin/audit/auditevent/"):
        if "object_type__exact=removals.removalrequest" in url:
            return True
        match = re.match(r"/admin/audit/auditevent/(\d+)/", url)
        return bool(match) and int(match.group(1)) in world["restricted_events"]
    return False


def _leaks(body: str, url: str = "/", world=None) -> list[str]:
    lowered = body.lower()
    return [field for field, canary in CANARIES.items() if canary.lower() in lowered
            and (field not in LINKED_ONLY or world is None or _about_restricted(url, world))]


def _search_finds(body: str, world) -> bool:
    return any(re.search(rf"\b{r.tracking_id}\b", body) for r in (world["csam"], world["ncii"]))


@pytest.mark.parametrize("role", [*UNPRIVILEGED, "anonymous"])
def test_no_page_reveals_a_restricted_field_to_staff_without_the_role(client, world, staff_with, role):
    if role != "anonymous":
        client.force_login(staff_with(f"crawler-{role}", *UNPRIVILEGED[role]))
    found = {}
    for url in _admin_urls(world):
        response = client.get(url)
        assert response.status_code < 500, url
        body = response.content.decode(errors="replace")
        leaks = _leaks(body, url, world)
        if "?q=" in url and _search_finds(body, world):
            leaks.append("search finds the restricted requests")
        if leaks:
            found[url] = leaks

    assert found == {}, "\n".join(f"{url}: {leaks}" for url, leaks in found.items())


def test_no_api_or_public_page_reveals_a_restricted_field(world):
    api = APIClient()
    found = {}
    for url, token in _public_urls(world):
        api.credentials(**({"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}))
        response = api.get(url)
        assert response.status_code < 500, url
        leaks = _leaks(response.content.decode(errors="replace"))
        if leaks:
            found[url] = leaks

    assert found == {}


def test_restricted_staff_do_see_them_so_the_crawl_can_see_a_leak(client, world, staff_with):
    client.force_login(staff_with("crawler-restricted", "reviewer", "restricted"))
    seen = set()
    for request in (world["csam"], world["ncii"]):
        body = client.get(reverse("admin:removals_removalrequest_change", args=[request.pk])).content.decode()
        seen |= set(_leaks(body))
    searched = client.get(f"/admin/removals/removalrequest/?q={CANARIES['reference'][:-3]}").content.decode()

    assert seen >= {"source", "reference", "notes", "hotline_report_id", "flagger", "requester_name",
                    "requester_email", "approver", "identifier"}
    assert _search_finds(searched, world)
