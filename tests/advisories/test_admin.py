"""The admin pages of registered models and their advisories: reviewers look, admins change, csam is "legal"."""
import pytest

from apps.advisories.models import Advisory, TrainedModel
from apps.advisories.services import model_register
from apps.audit.models import AuditEvent
from apps.datasets.selectors import release_samples
from tests.advisories.support import remove
from tests.support.admin_forms import submitted

pytestmark = pytest.mark.django_db


@pytest.fixture
def advised(release, operator):
    model = model_register(name="clip-big", trained_on=[release], owner_org="Acme", actor=operator).model
    keys = [s["key"] for s in release_samples(release=release, limit=5)]
    remove(operator, release, keys[:2], category="csam")
    return model


def test_a_reviewer_sees_models_and_advisories_with_csam_only_as_legal(client, staff_with, advised):
    client.force_login(staff_with("rita", "reviewer"))
    advisory = Advisory.objects.get()

    listing = client.get("/admin/advisories/trainedmodel/").content.decode()
    page = client.get(f"/admin/advisories/advisory/{advisory.pk}/change/").content.decode()
    model_page = client.get(f"/admin/advisories/trainedmodel/{advised.pk}/change/")

    assert "clip-big" in listing and "demo/2026-11" in listing and "Acme" in listing
    assert advisory.advisory_id in page and "legal 2" in page and "&quot;removed_count&quot;: 2" in page
    assert "csam" not in page.lower() and "Child sexual" not in page
    assert model_page.status_code == 200 and 'name="owner_org"' not in model_page.content.decode()  # read-only


def test_intake_staff_cannot_open_them(client, staff_with, advised):
    client.force_login(staff_with("ian", "intake"))

    assert client.get("/admin/advisories/advisory/").status_code == 403
    assert client.get(f"/admin/advisories/trainedmodel/{advised.pk}/change/").status_code == 403


def test_an_admin_changes_a_models_owner_details_audited(client, staff_with, advised):
    client.force_login(staff_with("ada", "admin"))
    url = f"/admin/advisories/trainedmodel/{advised.pk}/change/"
    form = submitted(client.get(url).content.decode(), "trainedmodel_form")
    form.update({"owner_org": ["Acme Research"], "public": []})

    response = client.post(url, form, follow=True)

    assert response.status_code == 200
    model = TrainedModel.objects.get(pk=advised.pk)
    assert (model.owner_org, model.public) == ("Acme Research", False)
    event = AuditEvent.objects.get(action="model.updated")
    assert event.after == {"owner_org": "Acme Research", "public": False}
