"""Every admin object's History page shows its audit events, newest first, masked as the audit log masks them."""
import re

import pytest
from django.urls import reverse

from apps.core.actors import Actor
from apps.core.identifiers import ParsedIdentifier
from apps.datasets.services import dataset_save
from apps.removals.models import Status
from apps.removals.services import request_create, request_transition

pytestmark = pytest.mark.django_db

SECRET_SOURCE = "HistoryCanarySource"


def _history(client, obj) -> str:
    info = obj._meta.app_label, obj._meta.model_name
    response = client.get(reverse(f"admin:{info[0]}_{info[1]}_history", args=[obj.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _actions(body: str) -> list[str]:
    return re.findall(r'<tr class="audit-event">.*?<td>.*?</td>\s*<td>([^<]+)</td>', body, re.S)


def test_it_shows_an_objects_audit_events_newest_first_with_who_and_what_changed(client, staff_with):
    editor = staff_with("editor", "admin")
    dataset = dataset_save(name="laion", title="First title", actor=Actor(label="cli:importer"))
    dataset_save(name="laion", title="Second title", dataset=dataset, actor=Actor.for_user(editor))
    client.force_login(staff_with("looker", "intake"))

    body = _history(client, dataset)

    assert _actions(body) == ["dataset.changed", "dataset.registered"]
    assert "cli:importer" in body and "editor" in body
    assert "First title" in body and "Second title" in body
    assert "doesn’t have a change history" not in body


@pytest.fixture
def csam(staff_with):
    request = request_create(category="csam", actor=Actor(label="cli:hotline-bot"), source=SECRET_SOURCE,
                             identifiers=[ParsedIdentifier(2, "url", "https://hidden.example/a.jpg")])
    triager = staff_with("triager", "intake", "restricted")
    request_transition(request=request, to=Status.TRIAGE, actor=Actor.for_user(triager), role="intake")
    return request


def test_a_csam_requests_history_hides_who_acted_and_what_changed_from_staff_without_restricted(
        client, staff_with, csam):
    client.force_login(staff_with("plain-reviewer", "reviewer"))

    body = _history(client, csam)

    assert _actions(body)[0] == "request.triage" and _actions(body)[-1] == "request.received"  # what and when
    for secret in ("cli:hotline-bot", "triager", SECRET_SOURCE):
        assert secret not in body
    assert "(restricted)" in body


def test_restricted_staff_see_a_csam_requests_history_in_full(client, staff_with, csam):
    client.force_login(staff_with("trusted-reviewer", "reviewer", "restricted"))

    body = _history(client, csam)

    assert "request.received" in body
    for detail in ("cli:hotline-bot", "triager", SECRET_SOURCE):
        assert detail in body
