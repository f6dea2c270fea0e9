"""Advisories: a blocklist version that removes samples a registered model was trained on advises its owner."""
import json

import numpy as np
import pytest

from apps.advisories import subsets
from apps.advisories.handlers import notify_models
from apps.advisories.models import Advisory
from apps.advisories.openvex import AdvisoryVerificationError, advisory_verify, public_keys_from
from apps.advisories.services import advisories_issue, model_register
from apps.audit.models import AuditEvent
from apps.blocklists.models import BlocklistVersion
from apps.datasets.selectors import release_samples
from apps.events.models import Event
from apps.matching.services import allow_list_add
from apps.removals.legal import request_reinstate_now
from tests.advisories.support import keys_parquet, keys_text, other_release, remove
from tests.support.events import run_pending

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys(release):
    return [s["key"] for s in release_samples(release=release, limit=60)]


@pytest.fixture
def models(release, release_on_disk, keys, operator, tmp_path):
    """whole: all of the release; subset: its first 30 samples (a parquet keys file); fine: a fine-tune of subset
    with no data of its own; elsewhere: another release only."""
    other = other_release(release_on_disk, operator)
    subset_file = keys_parquet(tmp_path / "subset.parquet", keys[:30])
    whole = model_register(name="whole", trained_on=[release], actor=operator).model
    subset = model_register(name="subset", trained_on=[release], keys_file=subset_file, actor=operator,
                            hf_repo_id="acme/subset-clip").model
    fine = model_register(name="fine", trained_on=[], base=subset, actor=operator).model
    elsewhere = model_register(name="elsewhere", trained_on=[other], actor=operator).model
    return {"whole": whole, "subset": subset, "fine": fine, "elsewhere": elsewhere}


def _advisories():
    return {a.model.name: a for a in Advisory.objects.select_related("model", "blocklist")}


def _published_keys(client) -> dict[str, bytes]:
    return public_keys_from(client.get("/.well-known/takedown/signing-keys.json").json())


def test_it_advises_each_model_trained_on_the_removed_samples(release, keys, models, operator, client):
    remove(operator, release, keys[:5] + keys[40:43])

    found = _advisories()
    assert set(found) == {"whole", "subset", "fine"}  # elsewhere trained on another release: nothing
    assert found["whole"].removed_count == 8
    assert found["subset"].removed_count == 5  # its subset ∩ removed
    assert found["fine"].removed_count == 5  # inherits its base's subset
    version = BlocklistVersion.objects.get(release=release)
    for advisory in found.values():
        assert advisory.blocklist == version and advisory.status == "affected"
        assert advisory.categories == {"copyright": advisory.removed_count}
        assert advisory.fixed_in == f"demo/2026-11 blocklist v{version.version}"
        document = advisory_verify(bytes(advisory.document), advisory.signature, _published_keys(client))
        statement = document["statements"][0]
        assert document["@context"] == "https://openvex.dev/ns/v0.2.0"
        assert statement["status"] == "affected" and statement["action_statement"]
        assert statement["vulnerability"]["name"] == f"TD-ADV-{advisory.model.name}-demo-2026-11-v{version.version}"
        assert document["takedown:advisory"]["removed_count"] == advisory.removed_count
    assert json.loads(bytes(found["subset"].document))["statements"][0]["products"][0]["@id"] == (
        "https://huggingface.co/acme/subset-clip")
    assert json.loads(bytes(found["whole"].document))["statements"][0]["products"][0]["@id"] == (
        "urn:takedown:model:whole")
    # Counts only: no key of a removed sample is in any document.
    assert not any(key.encode() in bytes(a.document) for a in found.values() for key in keys[:5])


def test_a_version_that_hits_no_model_sample_advises_no_one(release, keys, models, operator):
    remove(operator, release, keys[45:47])  # outside the subset; whole is hit

    assert set(_advisories()) == {"whole"}


def test_the_handler_run_again_issues_nothing_twice(release, keys, models, operator):
    remove(operator, release, keys[:3])
    event = Event.objects.get(name="blocklist.published")
    before = {a.pk: bytes(a.document) for a in Advisory.objects.all()}

    notify_models(event)
    advisories_issue(version=BlocklistVersion.objects.get(pk=event.payload["version"]))

    assert {a.pk: bytes(a.document) for a in Advisory.objects.all()} == before
    assert AuditEvent.objects.filter(action="advisory.issued").count() == 3


def test_an_allow_listed_sample_and_a_reinstatement_lower_the_count_and_the_resigned_document_says_so(
        release, keys, models, operator, client, staff_with):
    request = remove(operator, release, keys[:4])
    first = _advisories()["subset"]
    assert (first.removed_count, first.document_version) == (4, 1)

    allow_list_add(actor=operator, reason="a stock photo", release=release, key=keys[0])
    run_pending()

    lowered = Advisory.objects.get(pk=first.pk)
    assert (lowered.removed_count, lowered.document_version) == (3, 2)
    document = advisory_verify(bytes(lowered.document), lowered.signature, _published_keys(client))
    assert document["version"] == 2 and document["takedown:advisory"]["removed_count"] == 3
    assert "3 training samples" in document["statements"][0]["vulnerability"]["description"]

    request_reinstate_now(request=request, actor=operator, reason="court order")
    run_pending()

    reinstated = Advisory.objects.get(pk=first.pk)
    assert (reinstated.removed_count, reinstated.categories, reinstated.document_version) == (0, {}, 3)
    assert json.loads(bytes(reinstated.document))["takedown:advisory"]["removed_count"] == 0
    assert Advisory.objects.count() == 3  # re-signed, not issued again
    assert AuditEvent.objects.filter(action="advisory.resigned").count() == 6


def test_csam_and_ncii_show_only_as_legal(release, keys, models, operator):
    remove(operator, release, keys[:2], category="csam")
    remove(operator, release, keys[2:3], category="ncii")
    remove(operator, release, keys[3:5], category="privacy")

    subset = Advisory.objects.filter(model=models["subset"]).order_by("blocklist__version")
    assert [a.categories for a in subset] == [{"legal": 2}, {"legal": 1}, {"privacy": 2}]
    for advisory in Advisory.objects.all():
        assert b"csam" not in bytes(advisory.document) and b"ncii" not in bytes(advisory.document)
    # The deadline follows the most urgent category, as mirrors' acknowledgements do (csam 1 h, privacy 72 h).
    first, _, last = subset
    assert (first.deadline - first.created_at).total_seconds() == 3600
    assert (last.deadline - last.created_at).total_seconds() == 72 * 3600


def test_the_signature_fails_on_a_changed_byte_or_an_unknown_key(release, keys, models, operator, client):
    remove(operator, release, keys[:2])
    advisory = _advisories()["whole"]
    published = _published_keys(client)
    data = bytes(advisory.document)
    assert advisory_verify(data, advisory.signature, published)["version"] == 1

    changed = data.replace(b'"removed_count":2', b'"removed_count":1')
    assert changed != data
    with pytest.raises(AdvisoryVerificationError, match="does not verify"):
        advisory_verify(changed, advisory.signature, published)
    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 1
    with pytest.raises(AdvisoryVerificationError):
        advisory_verify(bytes(flipped), advisory.signature, published)
    with pytest.raises(AdvisoryVerificationError, match="unknown key"):
        advisory_verify(data, advisory.signature, {})


def test_a_subset_is_stored_as_sorted_distinct_key_hashes(tmp_path, settings):
    source = keys_text(tmp_path / "keys.txt", ["b", "a", "", "b", "c"])

    assert subsets.subset_store(source=source, name="m-r1.npy") == 3

    stored = np.load(settings.ADVISORY_SUBSETS_DIR / "m-r1.npy")
    assert stored.dtype == np.uint64 and list(stored) == sorted(subsets.key_hash(k) for k in "abc")
    hits = subsets.subset_hits(subsets.subset_open("m-r1.npy"), subsets.sorted_hashes(["a", "c", "zz"]))
    assert int(hits.sum()) == 2


def test_a_model_registered_after_removals_were_published_is_caught_up(release, keys, operator, tmp_path):
    remove(operator, release, keys[:5] + keys[40:43])  # published before any model was registered
    remove(operator, release, keys[10:12])
    assert not Advisory.objects.exists()

    subset = model_register(name="late", trained_on=[release], actor=operator,
                            keys_file=keys_text(tmp_path / "late.txt", keys[:30])).model
    fine = model_register(name="late-fine", trained_on=[], base=subset, actor=operator).model
    run_pending()  # model.registered: what the workers do

    found = {(a.model.name, a.blocklist.version): a.removed_count for a in Advisory.objects.select_related(
        "model", "blocklist")}
    # One advisory per earlier version that added samples it was trained on, as if it had been registered then.
    assert found == {("late", 1): 5, ("late", 2): 2, ("late-fine", 1): 5, ("late-fine", 2): 2}
    assert Event.objects.filter(name="model.registered").count() == 2
    run_pending()
    assert Advisory.objects.filter(model__in=[subset, fine]).count() == 4  # caught up once
