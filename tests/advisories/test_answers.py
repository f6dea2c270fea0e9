"""Answers to advisories: each status re-signs the document (verifiable with the published key), audited."""
import pytest

from apps.advisories.answers import advisory_answer, model_actor
from apps.advisories.models import Advisory
from apps.advisories.openvex import advisory_verify, public_keys_from
from apps.advisories.services import model_register
from apps.audit.models import AuditEvent
from apps.core.errors import TakedownError
from apps.datasets.selectors import release_samples
from apps.events.models import Event
from apps.matching.services import allow_list_add
from tests.advisories.support import other_release, remove
from tests.support.events import run_pending

pytestmark = pytest.mark.django_db


@pytest.fixture
def advisory(release, operator):
    model = model_register(name="clip", trained_on=[release], actor=operator).model
    keys = [s["key"] for s in release_samples(release=release, limit=5)]
    remove(operator, release, keys[:3])
    return Advisory.objects.get(model=model)


def _verified(client, advisory) -> dict:
    published = public_keys_from(client.get("/.well-known/takedown/signing-keys.json").json())
    return advisory_verify(bytes(advisory.document), advisory.signature, published)


def _answer(advisory, status, **more):
    return advisory_answer(advisory=advisory, status=status, actor=model_actor(advisory.model), **more)


@pytest.mark.parametrize(("status", "more", "vex", "extra"), [
    ("under_investigation", {}, "under_investigation", {}),
    ("not_affected", {"justification": "vulnerable_code_not_in_execute_path"}, "not_affected",
     {"justification": "vulnerable_code_not_in_execute_path"}),
    ("deprecated", {"note": "use clip-2"}, "affected",
     {"action_statement": "The owner deprecated the model.", "status_notes": "use clip-2"}),
])
def test_each_answer_is_signed_with_its_openvex_status(client, advisory, status, more, vex, extra):
    answered = _answer(advisory, status, **more)

    assert answered.status == status and answered.document_version == 2
    document = _verified(client, answered)
    statement = document["statements"][0]
    assert statement["status"] == vex and document["version"] == 2
    assert {name: statement.get(name) for name in extra} == extra
    assert document["takedown:advisory"]["status"] == status
    assert document["takedown:advisory"]["removed_count"] == 3  # the facts are kept


def test_fixed_names_the_release_retrained_on(client, advisory, release_on_disk, operator):
    other_release(release_on_disk, operator, name="2027-01")

    answered = _answer(advisory, "fixed", retrained_on="demo/2027-01")

    statement = _verified(client, answered)["statements"][0]
    assert statement["status"] == "fixed" and statement["status_notes"] == "Retrained on demo/2027-01."
    assert str(answered.answer_retrained_on) == "demo/2027-01"


def test_a_not_ready_release_is_not_a_fix(advisory, release_on_disk, operator):
    later = other_release(release_on_disk, operator, name="2027-01")
    later.status = "indexing"
    later.save(update_fields=["status"])

    with pytest.raises(TakedownError, match="retrained_on: demo/2027-01 is not ready"):
        _answer(advisory, "fixed", retrained_on="demo/2027-01")
    assert Advisory.objects.get(pk=advisory.pk).document_version == 1


def test_an_answer_is_audited_as_the_model_and_recorded_as_an_update(advisory):
    _answer(advisory, "under_investigation", note="looking")

    audit = AuditEvent.objects.get(action="advisory.answered")
    assert audit.actor_label == "model:clip"
    assert audit.before["status"] == "affected" and audit.after["status"] == "under_investigation"
    assert audit.after["document_version"] == 2
    event = Event.objects.get(name="advisory.updated")
    assert event.payload == {"advisory": advisory.pk, "document_version": 2}


def test_a_later_recount_keeps_the_answer_in_the_document(client, advisory, operator):
    _answer(advisory, "not_affected", justification="component_not_present")
    allow_list_add(actor=operator, reason="a stock photo", release=advisory.release,
                   key=release_samples(release=advisory.release, limit=1)[0]["key"])
    run_pending()

    recounted = Advisory.objects.get(pk=advisory.pk)
    assert (recounted.removed_count, recounted.document_version) == (2, 3)
    statement = _verified(client, recounted)["statements"][0]
    assert statement["status"] == "not_affected" and statement["justification"] == "component_not_present"
