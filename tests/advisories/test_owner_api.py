"""The model owner's API: its own advisories only, counts and coarse categories, signed documents, answers."""
import base64
import json

import pytest

from apps.advisories.models import Advisory
from apps.advisories.openvex import advisory_verify, public_keys_from
from apps.advisories.services import MODEL_TOKENS, model_register
from apps.datasets.selectors import release_samples
from apps.tokens.services import token_revoke
from tests.advisories.support import other_release, remove

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys(release):
    return [s["key"] for s in release_samples(release=release, limit=20)]


@pytest.fixture
def owners(release, operator):
    """Two models trained on the whole release, each with its token."""
    mine = model_register(name="mine", trained_on=[release], actor=operator, contact_email="ml@acme.example")
    theirs = model_register(name="theirs", trained_on=[release], actor=operator)
    return {"mine": mine, "theirs": theirs}


@pytest.fixture
def advised(owners, release, keys, operator):
    remove(operator, release, keys[:2], category="csam")
    remove(operator, release, keys[2:5], category="copyright")
    return owners


def _auth(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def _list(client, name, token):
    return client.get(f"/api/v1/models/{name}/advisories", **_auth(token))


def test_it_lists_the_models_own_advisories_with_coarse_categories_and_no_keys(client, advised, keys):
    response = _list(client, "mine", advised["mine"].token)

    assert response.status_code == 200
    rows = response.json()
    assert [(r["removed_count"], r["categories"]) for r in rows] == [(3, {"copyright": 3}), (2, {"legal": 2})]
    mine = set(Advisory.objects.filter(model=advised["mine"].model).values_list("pk", flat=True))
    assert {r["id"] for r in rows} == mine
    row = rows[1]
    assert row["status"] == "affected" and row["dataset"] == "demo" and row["release"] == "2026-11"
    assert row["fixed_in"].startswith("demo/2026-11 blocklist v") and row["deadline"]
    assert row["answer"] == {"justification": "", "retrained_on": "", "note": "", "answered_at": None}
    assert row["document"]["statements"][0]["status"] == "affected"
    assert row["document"]["takedown:advisory"]["key_id"] == row["key_id"]
    assert base64.b64decode(row["signature"])
    body = response.content
    assert b"csam" not in body and b"ncii" not in body
    assert not any(key.encode() in body for key in keys[:5])


def test_the_document_endpoint_serves_the_signed_bytes_with_the_signature_in_a_header(client, advised):
    advisory = Advisory.objects.filter(model=advised["mine"].model).first()

    response = client.get(f"/api/v1/models/mine/advisories/{advisory.pk}/document", **_auth(advised["mine"].token))

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.content == bytes(advisory.document)
    published = public_keys_from(client.get("/.well-known/takedown/signing-keys.json").json())
    assert advisory_verify(response.content, response["Takedown-Signature"], published)["version"] == 1
    assert response["Takedown-Key-Id"] == advisory.key_id
    detail = client.get(f"/api/v1/models/mine/advisories/{advisory.pk}", **_auth(advised["mine"].token)).json()
    assert detail["id"] == advisory.pk and detail["signature"] == advisory.signature


def test_another_models_token_sees_neither_its_advisories_nor_whether_it_exists(client, advised):
    theirs = Advisory.objects.filter(model=advised["theirs"].model).first()
    token = advised["mine"].token

    other = _list(client, "theirs", token)
    unknown = _list(client, "nobody", token)
    one = client.get(f"/api/v1/models/mine/advisories/{theirs.pk}", **_auth(token))

    assert other.status_code == unknown.status_code == 404
    assert other.json()["detail"] == "no model 'theirs' for this token"
    assert unknown.json()["detail"] == "no model 'nobody' for this token"
    assert one.status_code == 404
    answer = client.post(f"/api/v1/models/theirs/advisories/{theirs.pk}/answer", {"status": "fixed"},
                         content_type="application/json", **_auth(token))
    assert answer.status_code == 404
    assert Advisory.objects.get(pk=theirs.pk).status == "affected"


def test_no_token_a_wrong_one_or_a_revoked_one_is_refused(client, advised, operator):
    assert client.get("/api/v1/models/mine/advisories").status_code == 401
    assert _list(client, "mine", "td_model_nonsense").status_code == 401
    token_revoke(holder=advised["mine"].model, kind=MODEL_TOKENS, actor=operator)
    refused = _list(client, "mine", advised["mine"].token)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


def test_a_staff_session_is_not_a_model_token(client, advised, staff_with):
    client.force_login(staff_with("admin1", "admin"))
    assert client.get("/api/v1/models/mine/advisories").status_code == 401


def _answer(client, advised, body):
    advisory = Advisory.objects.filter(model=advised["mine"].model).first()
    response = client.post(f"/api/v1/models/mine/advisories/{advisory.pk}/answer", body,
                           content_type="application/json", **_auth(advised["mine"].token))
    return advisory, response


def test_an_answer_re_signs_the_document_and_returns_it(client, advised):
    advisory, response = _answer(client, advised, {"status": "not_affected",
                                                   "justification": "component_not_present", "note": "filtered"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "not_affected" and body["document_version"] == 2
    assert body["answer"]["justification"] == "component_not_present" and body["answer"]["note"] == "filtered"
    statement = body["document"]["statements"][0]
    assert statement["status"] == "not_affected" and statement["justification"] == "component_not_present"
    stored = Advisory.objects.get(pk=advisory.pk)
    assert json.loads(bytes(stored.document)) == body["document"]


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"status": "not_affected"}, "justification", "required when status is not_affected"),
    ({"status": "not_affected", "justification": "we_checked"}, "justification", "not a valid choice"),
    ({"status": "fixed"}, "retrained_on", "required when status is fixed"),
    ({"status": "fixed", "retrained_on": "demo/nope"}, "retrained_on", "has no release 'nope'"),
    ({"status": "fixed", "retrained_on": "demo"}, "retrained_on", "DATASET/RELEASE"),
    ({"status": "fixed", "retrained_on": "demo/2026-11"}, "retrained_on", "not a later release"),
    ({"status": "affected"}, "status", "not a valid choice"),
    ({"status": "deprecated", "justification": "component_not_present"}, "justification", "only a not_affected"),
])
def test_a_bad_answer_is_a_400_naming_the_field(client, advised, body, field, words):
    advisory, response = _answer(client, advised, body)

    assert response.status_code == 400
    body = response.json()
    assert f"{field}: " in body["detail"] and words in body["detail"], body
    assert [line for line in body["errors"] if line.startswith(f"{field}: ")], body
    assert Advisory.objects.get(pk=advisory.pk).document_version == 1


def test_fixed_names_a_later_ready_release(client, advised, release_on_disk, operator):
    other_release(release_on_disk, operator, name="2027-01")

    advisory, response = _answer(client, advised, {"status": "fixed", "retrained_on": "demo/2027-01"})

    assert response.status_code == 200, response.content
    assert response.json()["answer"]["retrained_on"] == "demo/2027-01"
    assert response.json()["document"]["statements"][0]["status_notes"] == "Retrained on demo/2027-01."
