"""Registering trusted flaggers: the create_flagger command and the admin."""
import re

import pytest
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.intake.flaggers import flagger_authenticate
from apps.intake.models import TrustedFlagger

TOKEN = re.compile(r"(td_flagger_[A-Za-z0-9_-]{43})")


@pytest.fixture
def logged_in(client, staff):
    client.force_login(staff)
    return client


def test_create_flagger_prints_the_token_last(db, run_command):
    out, _ = run_command("create_flagger", "Internet Watch Foundation", "--kind", "hotline",
                         "--email", "tech@iwf.example")

    lines = out.strip().splitlines()
    token = lines[-1]
    assert TOKEN.fullmatch(token)
    assert "Internet Watch Foundation" in lines[0]
    flagger = TrustedFlagger.objects.get()
    assert (flagger.name, flagger.kind, flagger.contact_email, flagger.active) == (
        "Internet Watch Foundation", "hotline", "tech@iwf.example", True)
    assert flagger_authenticate(token=token) == flagger
    assert flagger.token_hash != token and token not in out.replace(token, "", 1)
    event = AuditEvent.objects.get(action="flagger.token_issued")
    assert event.actor_label.startswith("cli:") and event.after["token_prefix"] == token[:15]

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/v1/flagger/requests?reference=x").json() == []


@pytest.mark.parametrize(("args", "message"), [
    (["IWF", "--kind", "hotline", "--email", "not-an-address"], "is not an email address"),
    (["  ", "--kind", "research"], "needs a name"),
])
def test_create_flagger_refuses_bad_input(db, run_command, args, message):
    with pytest.raises(CommandError, match=message):
        run_command("create_flagger", *args)
    assert not TrustedFlagger.objects.exists()


def test_create_flagger_refuses_an_unknown_kind(db, run_command):
    with pytest.raises(CommandError, match="invalid choice"):
        run_command("create_flagger", "IWF", "--kind", "police")


def test_create_flagger_refuses_a_name_taken(db, run_command):
    run_command("create_flagger", "C3P", "--kind", "hotline")
    with pytest.raises(CommandError, match="already exists"):
        run_command("create_flagger", "c3p", "--kind", "research")
    assert TrustedFlagger.objects.count() == 1


def test_the_admin_creates_a_flagger_and_shows_its_token_once(logged_in):
    response = logged_in.post("/admin/intake/trustedflagger/add/", {
        "name": "NCMEC", "kind": "hotline", "contact_email": "api@ncmec.example"}, follow=True)

    page = response.content.decode()
    token = TOKEN.search(page).group(1)
    flagger = TrustedFlagger.objects.get(name="NCMEC")
    assert flagger_authenticate(token=token) == flagger
    assert token not in logged_in.get(f"/admin/intake/trustedflagger/{flagger.pk}/change/").content.decode()
    assert token not in logged_in.get("/admin/intake/trustedflagger/").content.decode()
    event = AuditEvent.objects.get(action="flagger.token_issued", object_id=str(flagger.pk))
    assert event.actor_label == "user:reviewer"


def test_the_admin_refuses_a_name_taken(logged_in, run_command):
    run_command("create_flagger", "NCMEC", "--kind", "hotline")
    response = logged_in.post("/admin/intake/trustedflagger/add/", {"name": "ncmec", "kind": "hotline"})
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert TrustedFlagger.objects.count() == 1


def test_the_admin_rotates_and_revokes_tokens(logged_in, run_command):
    old = run_command("create_flagger", "SIO", "--kind", "research")[0].strip().splitlines()[-1]
    flagger = TrustedFlagger.objects.get()
    assert logged_in.get("/admin/intake/trustedflagger/").status_code == 200
    assert logged_in.get(f"/admin/intake/trustedflagger/{flagger.pk}/change/").status_code == 200

    response = logged_in.post("/admin/intake/trustedflagger/", {
        "action": "rotate_selected", "_selected_action": [flagger.pk]}, follow=True)
    new = TOKEN.search(response.content.decode()).group(1)
    assert new != old
    assert flagger_authenticate(token=old) is None and flagger_authenticate(token=new) == flagger

    response = logged_in.post("/admin/intake/trustedflagger/", {
        "action": "revoke_selected", "_selected_action": [flagger.pk]}, follow=True)
    assert "Revoked 1 flagger token(s)." in response.content.decode()
    assert flagger_authenticate(token=new) is None
    flagger.refresh_from_db()
    assert not flagger.active
    assert list(AuditEvent.objects.filter(object_id=str(flagger.pk), object_type="intake.trustedflagger")
                .order_by("id").values_list("action", "actor_label")) == [
        ("flagger.token_issued", AuditEvent.objects.order_by("id").first().actor_label),
        ("flagger.token_issued", "user:reviewer"),
        ("flagger.revoked", "user:reviewer"),
    ]


def test_the_admin_edits_contact_details_but_never_the_token(logged_in, run_command):
    token = run_command("create_flagger", "SIO", "--kind", "research")[0].strip().splitlines()[-1]
    flagger = TrustedFlagger.objects.get()
    response = logged_in.post(f"/admin/intake/trustedflagger/{flagger.pk}/change/", {
        "kind": "other", "contact_email": "new@sio.example", "token_hash": "x" * 64, "active": ""})
    assert response.status_code == 302
    flagger.refresh_from_db()
    assert (flagger.kind, flagger.contact_email, flagger.active) == ("other", "new@sio.example", True)
    assert flagger_authenticate(token=token) == flagger
    assert logged_in.post(f"/admin/intake/trustedflagger/{flagger.pk}/delete/").status_code == 403
