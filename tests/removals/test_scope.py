"""A request limited to a dataset or a release: sample keys are positional, so they need one."""
import pytest
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.core.actors import Actor
from apps.datasets.services import release_import
from apps.intake.flaggers import flagger_create
from apps.matching.models import Match
from apps.removals.models import RemovalRequest
from tests.support.removals import ready

URL = "/api/v1/flagger/requests"


@pytest.fixture
def realset(release, release_on_disk, operator):
    """Beside demo/2026-11: realset/r1 and realset/r1-copy (derived from r1). The same positional keys name
    samples in every one of them."""
    r1 = release_import(dataset="realset", release="r1", path=release_on_disk.path, actor=operator).release
    ready(r1)
    copy = release_import(dataset="realset", release="r1-copy", path=release_on_disk.path, derived_from="r1",
                          actor=operator).release
    ready(copy)
    return r1, copy


@pytest.fixture
def key(release_on_disk) -> str:
    return release_on_disk.data.successful()[5].key


@pytest.fixture
def key_file(tmp_path, key):
    path = tmp_path / "keys.csv"
    path.write_text(f"kind,value\nkey,{key}\n")
    return path


def _hit(request) -> set[str]:
    return {str(m.release) for m in Match.objects.filter(request=request).select_related("release__dataset")}


def test_a_key_without_a_dataset_is_refused_naming_the_line(run_command, realset, key_file):
    with pytest.raises(CommandError, match="line 2: key identifiers name a sample only within one dataset: give "
                                           "--dataset"):
        run_command("import_removals", str(key_file), "--category", "other")
    assert not RemovalRequest.objects.exists()


def test_a_key_with_a_dataset_hits_only_that_dataset(run_command, release, realset, key_file):
    out, _ = run_command("import_removals", str(key_file), "--category", "other", "--dataset", "realset")

    request = RemovalRequest.objects.get()
    assert (request.dataset.name, request.release) == ("realset", None)
    assert "applies to realset (every release)" in out
    assert _hit(request) == {"realset/r1", "realset/r1-copy"}  # not demo/2026-11's sample of the same key
    received = AuditEvent.objects.get(action="request.received", object_id=str(request.pk))
    assert received.after["scope"] == "realset (every release)"


def test_a_key_with_a_release_hits_only_that_release(run_command, realset, key_file, key):
    run_command("import_removals", str(key_file), "--category", "other", "--dataset", "realset",
                "--release", "r1-copy")

    request = RemovalRequest.objects.get()
    assert _hit(request) == {"realset/r1-copy"}
    assert set(Match.objects.filter(request=request).values_list("key", flat=True)) == {key}


def test_unknown_datasets_and_releases_are_named(run_command, realset, key_file):
    with pytest.raises(CommandError, match="--dataset 'nope': no such dataset"):
        run_command("import_removals", str(key_file), "--category", "other", "--dataset", "nope")
    with pytest.raises(CommandError, match="--release 'r9': dataset realset has no such release"):
        run_command("import_removals", str(key_file), "--category", "other", "--dataset", "realset",
                    "--release", "r9")
    with pytest.raises(CommandError, match="--release 'r1': give the dataset it belongs to"):
        run_command("import_removals", str(key_file), "--category", "other", "--release", "r1")
    assert not RemovalRequest.objects.exists()


def test_other_kinds_without_a_scope_still_apply_everywhere(run_command, realset, release_on_disk, tmp_path):
    sample = release_on_disk.data.successful()[5]
    path = tmp_path / "urls.csv"
    path.write_text(f"kind,value\nurl,{sample.url}\n")
    run_command("import_removals", str(path), "--category", "other")
    assert _hit(RemovalRequest.objects.get()) == {"demo/2026-11", "realset/r1", "realset/r1-copy"}


def test_a_new_release_is_matched_only_by_the_requests_meant_for_it(run_command, release, release_on_disk,
                                                                     operator, key_file):
    run_command("import_removals", str(key_file), "--category", "other", "--dataset", "demo")
    request = RemovalRequest.objects.get()
    assert _hit(request) == {"demo/2026-11"}

    later = release_import(dataset="realset", release="r1", path=release_on_disk.path, actor=operator).release
    ready(later)  # the catch-up on release.ready
    assert _hit(request) == {"demo/2026-11"}


@pytest.fixture
def flagger_api(db):
    _, token = flagger_create(name="SIO", kind="research", actor=Actor(label="cli:tester"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def test_the_flagger_api_takes_a_scope_and_shows_it(flagger_api, realset, key):
    refused = flagger_api.post(URL, {"category": "other", "reference": "r-1",
                                     "identifiers": [{"kind": "key", "value": key}]}, format="json")
    assert refused.status_code == 400
    assert "key identifiers name a sample only within one dataset: give the dataset field" in (
        refused.json()["detail"])

    unknown = flagger_api.post(URL, {"category": "other", "reference": "r-1", "dataset": "realset",
                                     "release": "r7", "identifiers": [{"kind": "key", "value": key}]},
                               format="json")
    assert unknown.status_code == 400
    assert "release 'r7': dataset realset has no such release" in unknown.json()["detail"]
    assert not RemovalRequest.objects.exists()

    created = flagger_api.post(URL, {"category": "other", "reference": "r-1", "dataset": "realset",
                                     "release": "r1", "identifiers": [{"kind": "key", "value": key}]},
                               format="json")
    assert created.status_code == 201, created.json()
    status = flagger_api.get(f"{URL}/{created.json()['tracking_id']}").json()
    assert (status["dataset"], status["release"]) == ("realset", "r1")


def test_the_flagger_csv_form_takes_the_scope_as_query_parameters(flagger_api, realset, key):
    response = flagger_api.post(f"{URL}?category=other&reference=r-2&dataset=realset", f"kind,value\nkey,{key}\n",
                                content_type="text/csv")
    assert response.status_code == 201, response.json()
    request = RemovalRequest.objects.get()
    assert (request.dataset.name, request.release) == ("realset", None)
    status = flagger_api.get(URL, {"reference": "r-2"}).json()
    assert (status[0]["dataset"], status[0]["release"]) == ("realset", None)

    no_scope = flagger_api.post(f"{URL}?category=other&reference=r-3", f"kind,value\nkey,{key}\n",
                                content_type="text/csv")
    assert no_scope.status_code == 400
    assert no_scope.json()["detail"].startswith("line 2: key identifiers name a sample only within one dataset")


def test_the_admin_add_form_takes_a_scope_and_the_page_shows_it(client, staff, realset, key):
    r1, _ = realset
    client.force_login(staff)
    form = {"category": "other", "source": "email", "reference": "x", "notes": "",
            "identifiers_csv": f"kind,value\nkey,{key}\n"}
    refused = client.post("/admin/removals/removalrequest/add/", form)
    assert refused.status_code == 200
    assert "key identifiers name a sample only within one dataset: give the dataset" in refused.content.decode()
    assert not RemovalRequest.objects.exists()

    done = client.post("/admin/removals/removalrequest/add/",
                       {**form, "dataset": r1.dataset.pk, "release": r1.pk}, follow=True)
    request = RemovalRequest.objects.get()
    assert (request.dataset, request.release) == (r1.dataset, r1)
    page = client.get(f"/admin/removals/removalrequest/{request.pk}/change/").content.decode()
    assert "realset/r1" in page and done.status_code == 200
