"""The public index of models by release (/advisories/ and /advisories/feed.json): counts only, coarse categories,
opted-out models counted not named; and the console's page of models by release, per role."""
import json
import re

import pytest

from apps.advisories.models import Advisory, TrainedModel
from apps.advisories.services import model_register
from apps.datasets.selectors import release_samples
from tests.advisories.support import keys_parquet, other_release, remove

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys(release):
    return [s["key"] for s in release_samples(release=release, limit=60)]


@pytest.fixture
def world(release, release_on_disk, keys, operator, tmp_path):
    """listed: the whole release (a Hub repository); hidden: opted out of the listing, a 30-key subset; tuned: a
    public fine-tune of hidden; quiet: another release, never hit. Removals: 3 csam samples and 2 copyright ones."""
    other = other_release(release_on_disk, operator)
    model_register(name="listed", trained_on=[release], actor=operator, owner_org="Acme Vision",
                   hf_repo_id="acme/listed-clip", contact_email="ml@acme.example")
    hidden = model_register(name="hidden-model", trained_on=[release], actor=operator, public=False,
                            keys_file=keys_parquet(tmp_path / "subset.parquet", keys[:30])).model
    model_register(name="tuned", trained_on=[], base=hidden, actor=operator)
    model_register(name="quiet", trained_on=[other], actor=operator)
    remove(operator, release, keys[:3], category="csam")
    remove(operator, release, keys[40:42], category="copyright")
    return keys[:3] + keys[40:42]


def _feed(client) -> dict:
    response = client.get("/advisories/feed.json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    return response.json()


def test_the_page_lists_each_release_its_listed_models_and_counts_without_login(client, world):
    response = client.get("/advisories/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "<h2 id=\"dataset-demo\">demo</h2>" in page
    assert "Release 2026-11" in page and "Release 2026-12" in page
    listed = re.search(r'<a href="https://huggingface.co/acme/listed-clip" rel="nofollow">listed</a>.*?</tr>', page,
                       re.S).group(0)
    assert "Acme Vision" in listed and ">5</td>" in listed and "legal 3, copyright 2" in listed
    assert "Not answered yet" in listed
    tuned = re.search(r"<td class=\"name\">tuned.*?</tr>", page, re.S).group(0)
    assert ">3</td>" in tuned and "legal 3" in tuned  # its base's subset holds the 3 csam samples
    quiet = re.search(r"<td class=\"name\">quiet.*?</tr>", page, re.S).group(0)
    assert ">0</td>" in quiet and "No removals yet" in quiet


def test_an_opted_out_model_is_counted_not_named_and_a_private_base_is_not_named(client, world):
    page = client.get("/advisories/").content.decode()
    feed = json.dumps(_feed(client))

    assert "hidden-model" not in page and "hidden-model" not in feed
    assert "3 models trained on it, 3 affected by removals; 1 model not listed." in " ".join(page.split())
    release = _feed(client)["datasets"][0]["releases"][0]
    assert release["models_not_listed"] == 1
    assert {m["name"]: m["base_model"] for m in release["models"]} == {"listed": None, "tuned": None}


def test_nothing_restricted_or_identifying_is_published(client, world):
    page = client.get("/advisories/").content.decode()
    feed = client.get("/advisories/feed.json").content.decode()

    for text in (page, feed):
        assert "csam" not in text and "ncii" not in text  # counted as "legal"
        assert "ml@acme.example" not in text  # the owner's contact
        assert not any(key in text for key in world)
        assert "TD-" not in text  # no tracking id or advisory id


def test_the_feed_has_stable_fields_and_follows_answers(client, world):
    feed = _feed(client)

    assert feed["feed_version"] == 1 and feed["generated_at"].endswith("Z")
    [dataset] = feed["datasets"]
    assert dataset["dataset"] == "demo"
    first, second = dataset["releases"]
    assert (first["release"], second["release"]) == ("2026-11", "2026-12")
    listed = next(m for m in first["models"] if m["name"] == "listed")
    assert listed == {"name": "listed", "owner": "Acme Vision", "hf_repo_id": "acme/listed-clip", "base_model": None,
                      "affected": True, "removed_samples": 5, "removed_by_category": {"legal": 3, "copyright": 2},
                      "advisories": 2, "answer": "unanswered"}
    assert second["models"] == [{"name": "quiet", "owner": "", "hf_repo_id": None, "base_model": None,
                                 "affected": False, "removed_samples": 0, "removed_by_category": {},
                                 "advisories": 0, "answer": "not_affected_yet"}]

    Advisory.objects.filter(model__name="listed").update(status=Advisory.Status.FIXED)
    listed = next(m for m in _feed(client)["datasets"][0]["releases"][0]["models"] if m["name"] == "listed")
    assert listed["answer"] == "fixed"
    assert "Fixed" in re.search(r"listed</a>.*?</tr>", client.get("/advisories/").content.decode(), re.S).group(0)


def test_with_no_model_it_says_so(client):
    assert "No model has been registered as trained on our datasets yet." in client.get("/advisories/").content.decode()
    assert _feed(client)["datasets"] == []


def test_it_accepts_no_post(client):
    assert client.post("/advisories/").status_code == 405
    assert client.post("/advisories/feed.json").status_code == 405


def test_the_landing_page_links_the_index(client):
    assert 'href="/advisories/"' in client.get("/").content.decode()


# --- the console: /admin/advisories/by-release/ ---------------------------------------------------------------------

@pytest.mark.parametrize("role", ["intake", "reviewer", "legal", "admin"])
def test_any_staff_role_sees_the_counts_of_every_model_by_release(client, staff_with, world, role):
    client.force_login(staff_with(f"{role}-user", role))

    response = client.get("/admin/advisories/by-release/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "demo/2026-11" in page and "demo/2026-12" in page
    assert "hidden-model" in page  # staff see the opted-out model, marked
    assert "3 models, 3 affected, 1 not listed publicly" in page
    assert "legal 3, copyright 2" in page and "csam 3" not in page and not any(key in page for key in world)
    hidden = TrainedModel.objects.get(name="hidden-model")
    link = f'href="/admin/advisories/trainedmodel/{hidden.pk}/change/"'
    assert (link in page) == (role in ("reviewer", "admin"))  # only roles that may open the model's page


def test_the_console_page_is_for_staff_only(client, world):
    response = client.get("/admin/advisories/by-release/")

    assert response.status_code == 302 and "/admin/login/" in response["Location"]
