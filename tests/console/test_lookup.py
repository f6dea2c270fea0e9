"""Lookup (/admin/lookup/): is this URL, hash, key, tracking id or domain covered, and where does it stand?"""
import re
from urllib.parse import quote, urlsplit

import pytest

from apps.core.identifiers import ParsedIdentifier
from apps.datasets.models import Dataset
from apps.mirrors.services import ack_record, mirror_create
from apps.removals.services import request_approve, request_create
from tests.support.removals import approve_and_publish, publish

pytestmark = pytest.mark.django_db
URL = "/admin/lookup/"


@pytest.fixture
def world(release, release_on_disk, operator):
    """A published copyright request naming sample 0 by URL; two mirrors of the dataset, one of which applied
    the version that blocks it; sample 1 is hit by nothing."""
    samples = release_on_disk.data.successful()
    named, other = samples[0], samples[1]
    request = request_create(category="copyright", actor=operator,
                             identifiers=[ParsedIdentifier(2, "url", named.canonical_url)])
    request_approve(request=request, actor=operator)
    [version] = publish(request)
    demo = Dataset.objects.get(name="demo")
    applied = mirror_create(name="mirror-applied", datasets=[demo], actor=operator).mirror
    mirror_create(name="mirror-behind", datasets=[demo], actor=operator)
    ack_record(mirror=applied, dataset="demo", release=release.name, version=version.version, status="applied")
    return {"request": request, "version": version, "named": named, "other": other}


def _look(client, q) -> str:
    response = client.get(URL, {"q": q})
    assert response.status_code == 200
    return response.content.decode()


def _row(page: str, key: str) -> str:
    """The table row of a sample key."""
    found = re.search(rf"<tr>\s*<td>demo/2026-11</td><td>[^<]*</td><td>{re.escape(key)}</td>.*?</tr>", page, re.S)
    assert found, f"no row for {key}"
    return found.group()


def test_it_finds_the_request_and_the_blocked_sample_by_each_kind(client, staff_with, world):
    client.force_login(staff_with("rev", "reviewer"))
    named, request, version = world["named"], world["request"], world["version"]
    for q in (named.canonical_url, named.key, named.md5, named.sha256, f"sha256:{named.sha256}"):
        page = _look(client, q)
        row = _row(page, named.key)
        assert f"Blocked in <a href=\"/admin/blocklists/blocklistversion/{version.pk}/change/\">{version}</a>" in row, q
        assert re.search(r"mirror-applied</a>: applied", row) and re.search(r"mirror-behind</a>: not applied yet", row)
        assert request.tracking_id in row, q  # matched by it
    # The URL names the request itself (its identifier); so does its domain, by its samples.
    page = _look(client, named.canonical_url)
    assert re.search(rf"{request.tracking_id}</a></td>\s*<td>Copyright</td><td>[^<]+</td><td>names this URL", page)
    host = urlsplit(named.canonical_url).hostname
    page = _look(client, host)
    assert "Looked up as: Domain (and its subdomains)" in page and named.key in page


def test_a_64_hex_value_is_tried_as_sha256_and_as_pdq(client, staff_with, world):
    client.force_login(staff_with("rev", "reviewer"))
    page = _look(client, world["named"].sha256)
    assert "Looked up as: SHA-256" in page and "and as PDQ" in page
    assert "Nearest samples by PDQ" in page


def test_the_tracking_id_shows_that_request(client, staff_with, world):
    client.force_login(staff_with("rev", "reviewer"))
    request = world["request"]
    page = _look(client, request.tracking_id.lower())
    assert f'href="/admin/removals/removalrequest/{request.pk}/change/">{request.tracking_id}</a>' in page
    assert "Copyright" in page and "Its identifiers, matches and blocklist versions are on its page" in page
    assert "No request has the tracking id TD-ZZZZZZZZZZ" in _look(client, "TD-ZZZZZZZZZZ")


def test_a_sample_nothing_blocks_says_so(client, staff_with, world):
    client.force_login(staff_with("rev", "reviewer"))
    row = _row(_look(client, world["other"].key), world["other"].key)
    latest = f"/admin/blocklists/blocklistversion/{world['version'].pk}/change/"
    assert f'Not blocked: not in the latest version, <a href="{latest}">' in row
    assert "No request you may see names it." in _look(client, world["other"].canonical_url)
    assert "It hits no sample of a ready release." in _look(client, "https://nowhere.example/x.jpg")


def test_pdq_lists_the_nearest_samples_with_their_distances(client, staff_with, world):
    client.force_login(staff_with("rev", "reviewer"))
    sample = world["named"]
    near = f"{int(sample.member_pdq, 16) ^ ((1 << 10) - 1):064x}"  # 10 bits away: a match
    far = f"{int(sample.member_pdq, 16) ^ ((1 << 40) - 1):064x}"  # 40 bits away: beyond the threshold of 31
    page = _look(client, f"pdq:{near}")
    nearest = page.split('id="lookup-nearest"')[1]
    row = _row(nearest, sample.key)
    assert "<td>10</td>" in row and "Blocked in" in row
    page = _look(client, f"pdq:{far}")
    row = _row(page.split('id="lookup-nearest"')[1], sample.key)
    assert "<td>40 (beyond the threshold: not a match)</td>" in row
    assert "threshold of 31" in page


@pytest.fixture
def csam(release, release_on_disk, operator):
    """A published csam request that alone names sample 2's URL (and an ordinary one naming its key)."""
    sample = release_on_disk.data.successful()[2]
    request = request_create(category="csam", actor=operator, identifiers=[
        ParsedIdentifier(2, "url", sample.canonical_url), ParsedIdentifier(3, "url", "https://only-csam.example/a.jpg")])
    request_approve(request=request, actor=operator)
    publish(request)
    return request, sample


def test_staff_without_restricted_never_learn_what_a_csam_request_names(client, staff_with, csam):
    request, sample = csam
    client.force_login(staff_with("rev", "reviewer", "legal"))
    for q in (sample.canonical_url, sample.key, sample.sha256, "https://only-csam.example/a.jpg", "only-csam.example"):
        page = _look(client, q)
        assert request.tracking_id not in page, q
        assert "You do not hold the restricted role" in page
    # The sample and its blocked state show: the blocklist is keys only.
    assert "Blocked in" in _row(_look(client, sample.key), sample.key)
    # By its tracking id: category and status only.
    page = _look(client, request.tracking_id)
    assert request.tracking_id in page and "CSAM" in page.upper() and "Restricted: what it names" in page
    assert sample.canonical_url not in page and "only-csam" not in page


def test_restricted_staff_see_the_csam_request_that_names_it(client, staff_with, csam):
    request, sample = csam
    client.force_login(staff_with("rr", "reviewer", "restricted"))
    page = _look(client, "https://only-csam.example/a.jpg")
    assert request.tracking_id in page and "names this URL" in page
    assert "You do not hold the restricted role" not in page
    assert request.tracking_id in _row(_look(client, sample.key), sample.key)


@pytest.mark.parametrize("q, message", [
    ("", "Type a URL, hash, sample key, tracking id or domain to look it up."),
    ("   ", "Type a URL, hash, sample key, tracking id or domain to look it up."),
    ("x" * 2500, "That is 2,500 characters long: a lookup takes at most 2,000."),
    ("not a thing!", "is not a URL (http:// or https://), a hash"),
    ("ftp://example.org/a.jpg", "Not a valid URL: URL &#x27;ftp://example.org/a.jpg&#x27; must start with http"),
    ("sha256:abc", "Not a valid SHA-256: sha256 must be 64 hex characters, got 3"),
    ("pdq:zz", "Not a valid PDQ: pdq &#x27;zz&#x27; is not hexadecimal"),
])
def test_bad_input_gets_a_clear_message(client, staff_with, db, q, message):
    client.force_login(staff_with("intake", "intake"))
    page = _look(client, q)
    assert 'id="lookup-error"' in page and message in page


def test_any_staff_role_may_open_it_and_it_is_linked_from_the_header(client, staff_with, db):
    client.force_login(staff_with("intake", "intake"))
    assert client.get(URL).status_code == 200
    assert 'href="/admin/lookup/">Lookup</a>' in client.get("/admin/").content.decode()
    client.logout()
    assert client.get(URL).status_code == 302


def test_a_url_with_a_query_string_is_looked_up_whole(client, staff_with, world):
    client.force_login(staff_with("rev", "reviewer"))
    response = client.get(f"{URL}?q={quote(world['named'].canonical_url + '?a=1&b=2', safe='')}")
    assert "It hits no sample of a ready release." in response.content.decode()


def test_a_key_request_found_by_key(client, staff_with, release, release_on_disk, operator):
    sample = release_on_disk.data.successful()[3]
    request, [version] = approve_and_publish(operator, [sample.key])
    client.force_login(staff_with("rev", "reviewer"))
    page = _look(client, sample.key)
    assert "names this Sample key" in page and request.tracking_id in _row(page, sample.key)
    assert f"Blocked in <a href=\"/admin/blocklists/blocklistversion/{version.pk}/change/\">" in _row(page, sample.key)
    assert "No active mirror subscribes to demo." in _row(page, sample.key)


def test_a_blocklist_file_gone_from_storage_is_said_not_a_500(client, staff_with, world):
    from apps.blocklists.selectors import storage

    version, key = world["version"], world["named"].key
    storage().delete(f"{version.path}/{world['named'].shard}.parquet")
    client.force_login(staff_with("rev", "reviewer"))
    row = _row(_look(client, key), key)
    assert f"Unknown: could not read {version}: {version}: no file" in row
