"""Audited by construction: every change page of the admin either saves through a service that writes the
audit trail, or shows nothing to change. The walker opens each one as a superuser, changes one field the way
a browser would, saves, and looks for the audit event."""
import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from apps.advisories.services import model_register
from apps.audit.models import AuditEvent
from apps.blocklists.services import decoy_pool_configure
from apps.core.actors import Actor
from apps.datasets.models import Release
from apps.datasets.selectors import release_samples
from apps.matching.services import allow_list_add
from apps.mirrors.services import mirror_create
from apps.removals.models import Policy
from tests.support.admin_forms import changed, submitted
from tests.support.removals import approve_and_publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(run_command, operator):
    """Something of every kind the admin shows: the demo, a decoy pool, an allow-list entry, a webhook, a model
    trained on the release (and its advisory)."""
    run_command("demo")
    release = Release.objects.get()
    mirror_create(name="hooked", datasets=[release.dataset], webhook_url="https://hooks.example/h", actor=operator)
    model_register(name="walked-model", trained_on=[release], actor=operator)
    [sample] = [s for s in release_samples(release=release, limit=60) if s["key"]][40:41]
    _, versions = approve_and_publish(operator, [sample["key"]], category="other")
    assert versions and versions[0].feed_events.get().deliveries.exists()
    decoy_pool_configure(release=release, padding_ratio="2", actor=operator)
    allow_list_add(actor=operator, reason="a known false positive", kind="url", value="https://example.com/x.jpg")
    Policy.current()


def _walk(client, superuser, model, model_admin) -> str:
    """What happened on the model's change page: 'read-only', or 'audited'; anything else is a failure."""
    request = RequestFactory().get("/")
    request.user = superuser
    obj = model._default_manager.order_by("pk").first()
    if obj is None:
        assert not model_admin.has_change_permission(request), f"{model._meta.label}: no object to walk"
        return "read-only (no object)"
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    html = page.content.decode()
    if not model_admin.has_change_permission(request, obj) or 'name="_save"' not in html:
        return "read-only"
    form = model_admin.get_form(request, obj, change=True)
    readonly = set(model_admin.get_readonly_fields(request, obj))
    data = submitted(html, f"{model._meta.model_name}_form")
    for name, field in form.base_fields.items():
        if name in readonly or field.disabled or name not in data and not isinstance(field, (
                admin.widgets.forms.BooleanField, admin.widgets.forms.ModelMultipleChoiceField)):
            continue
        new = changed(field, data.get(name, []))
        if new is not None:
            break
    else:
        return "read-only"
    last = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    response = client.post(url, {**data, name: new})
    problems = response.context["adminform"].form.errors if response.status_code == 200 else ""
    assert response.status_code == 302, f"{model._meta.label}: saving {name}={new} failed: {problems}"
    events = AuditEvent.objects.filter(pk__gt=last, object_type=model._meta.label_lower, object_id=str(obj.pk))
    assert events.exists(), f"{model._meta.label}: saving {name} wrote no audit event"
    return f"audited ({name})"


def test_every_admin_change_page_saves_through_the_audit_trail(client, django_user_model, world):
    superuser = django_user_model.objects.create_superuser("walker", "walker@host.example", "correct horse battery")
    client.force_login(superuser)
    outcomes = {model._meta.label: _walk(client, superuser, model, model_admin)
                for model, model_admin in admin.site._registry.items()}
    audited = {label for label, outcome in outcomes.items() if outcome.startswith("audited")}
    # The pages where staff change things: each one audited (a new editable page joins this list).
    assert audited == {
        "auth.User", "auth.Group", "datasets.Dataset", "blocklists.DecoyPool", "mirrors.Mirror",
        "intake.TrustedFlagger", "removals.RemovalRequest", "removals.Policy", "advisories.TrainedModel",
    }, outcomes


def test_a_flagger_edited_in_the_admin_is_audited_field_by_field(client, staff_with, operator):
    from apps.intake.flaggers import flagger_create

    flagger, _ = flagger_create(name="Research lab", kind="research", actor=operator)
    client.force_login(staff_with("boss", "admin"))
    url = reverse("admin:intake_trustedflagger_change", args=[flagger.pk])
    data = submitted(client.get(url).content.decode(), "trustedflagger_form")
    response = client.post(url, {**data, "kind": ["hotline"]})
    assert response.status_code == 302
    flagger.refresh_from_db()
    assert flagger.kind == "hotline"  # its csam is now approved on receipt: who did that is on record
    event = AuditEvent.objects.get(action="flagger.changed")
    assert (event.actor_label, event.before, event.after) == ("user:boss", {"kind": "research"}, {"kind": "hotline"})


def test_staff_without_the_admin_role_cannot_change_a_flagger(client, staff_with, operator):
    from apps.core.errors import TakedownError
    from apps.intake.flaggers import flagger_create, flagger_update

    flagger, _ = flagger_create(name="Research lab", kind="research", actor=operator)
    with pytest.raises(TakedownError, match="admin role"):
        flagger_update(flagger=flagger, kind="hotline", contact_email="", actor=Actor.for_user(
            staff_with("reviewer", "reviewer")))
    flagger.refresh_from_db()
    assert flagger.kind == "research"
