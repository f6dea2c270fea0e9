"""The public report form, its receipt and the status page, through Django's test client."""
import csv
import hashlib
import io
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.core.actors import Actor
from apps.datasets.models import Dataset
from apps.intake.services import status_token
from apps.mirrors.services import ack_record, mirror_create
from apps.removals.models import (
    Channel,
    DmcaNotice,
    DomainClaim,
    Identifier,
    Policy,
    RemovalRequest,
    Status,
)
from apps.removals.services import request_approve
from tests.support.removals import publish

pytestmark = pytest.mark.django_db

REPORT = "/report/"
STATUS = "/report/status/"
CSV_URL = "/report/status/recipients.csv"
PERSON = {"requester_name": "Ada Artist", "requester_email": "ada@example.org"}
DMCA = {
    "signature": "Ada Artist",
    "copyrighted_work": "My painting 'Harbour at dusk' (2021), published on ada.example",
    "infringing_material": "A copy of the painting at the URL below",
    "contact": "1 Quay Street, Leith; +44 131 000 0000; ada@example.org",
    "good_faith": "on",
    "accurate_under_penalty": "on",
}


class FormClient(Client):
    """Posts as a browser posts this form: urlencoded (Django's test client defaults to multipart)."""

    def post(self, path, data=None, content_type="application/x-www-form-urlencoded", **extra):
        if isinstance(data, dict) and content_type == "application/x-www-form-urlencoded":
            data = urlencode(data, doseq=True)
        return super().post(path, data, content_type=content_type, **extra)


@pytest.fixture
def client():
    return FormClient()


@pytest.fixture(autouse=True)
def _fresh_limits():
    """Rate-limit counters live in the cache: every test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def one_dataset(db) -> Dataset:
    """The host publishes one dataset: a sample key can only mean one of its samples."""
    return Dataset.objects.create(name="demo")


def post(client, category, **fields):
    return client.post(REPORT, {"category": category, **fields})


def receipt_of(response) -> tuple[str, str]:
    html = response.content.decode()
    tracking = re.search(r'id="tracking-id">([^<]+)<', html).group(1)
    secret = re.search(r'id="secret">([^<]+)<', html).group(1)
    return tracking, secret


# ---------------------------------------------------------------- the form


def test_the_chooser_lists_every_category_and_points_csam_to_the_hotlines(client):
    response = client.get(REPORT)
    html = response.content.decode()
    assert response.status_code == 200
    for category in ("copyright", "privacy", "opt_out", "ncii", "csam", "other"):
        assert f"?category={category}" in html
    assert "report.cybertip.org" in html and "report.iwf.org.uk" in html and "cybertip.ca" in html


def test_the_form_is_not_multipart_and_its_file_input_has_no_name(client):
    html = client.get(REPORT, {"category": "copyright"}).content.decode()
    form = re.search(r"<form [^>]*>", html).group(0)
    assert 'method="post"' in form and "enctype" not in form
    file_inputs = re.findall(r'<input type="file"[^>]*>', html)
    assert file_inputs == ['<input type="file" id="hash-file" multiple>']
    assert 'crypto.subtle.digest("SHA-256"' in html
    assert "csrfmiddlewaretoken" in html
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"(https?:)?//", html)  # no external assets


def test_an_unknown_category_is_named_not_a_500(client):
    response = client.get(REPORT, {"category": "nonsense"})
    assert response.status_code == 404
    assert "There is no category &#x27;nonsense&#x27;" in response.content.decode()
    response = client.post(REPORT, {"category": "nonsense", **PERSON, "identifiers": "https://x.example/a"})
    assert response.status_code == 400
    assert "Choose what kind of report this is." in response.content.decode()
    assert not RemovalRequest.objects.exists()


def test_a_copyright_notice_creates_a_web_form_request_with_its_notice_and_normalised_identifiers(client, one_dataset):
    digest = "AB" * 32
    response = post(client, "copyright", **PERSON, **DMCA, reference="CASE-7", identifiers=(
        "HTTPS://Cdn.Example.COM:443/img/%7ehello.jpg\n\n"
        "000010005\n"
        f"sha256,{digest}\n"
        "https://cdn.example.com/img/~hello.jpg\n"  # the same URL once normalised: kept once
    ))
    assert response.status_code == 200
    request = RemovalRequest.objects.get()
    assert (request.category, request.channel, request.source) == ("copyright", Channel.WEB_FORM, "web form")
    assert (request.requester_name, request.requester_email) == ("Ada Artist", "ada@example.org")
    assert request.reference == "CASE-7"
    assert (request.dataset, request.release) == (one_dataset, None)  # it names a sample key
    assert request.status == Status.RECEIVED
    assert list(request.identifiers.values_list("line", "kind", "value")) == [
        (1, "url", "https://cdn.example.com/img/~hello.jpg"),
        (3, "key", "000010005"),
        (4, "sha256", "ab" * 32),
    ]
    notice = DmcaNotice.objects.get(request=request)
    assert notice.missing() == []
    assert notice.signature == "Ada Artist" and notice.good_faith and notice.accurate_under_penalty
    tracking, secret = receipt_of(response)
    assert tracking == request.tracking_id
    assert request.status_secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert "no-store" in response["Cache-Control"]
    assert "all six elements" in response.content.decode()


def test_an_incomplete_notice_is_sent_back_and_the_receipt_names_what_it_lacks(client):
    partial = {**DMCA, "signature": "", "accurate_under_penalty": ""}
    response = post(client, "copyright", **PERSON, **partial, identifiers="https://cdn.example.com/a.jpg")
    request = RemovalRequest.objects.get()
    assert request.status == Status.NEEDS_INFO
    assert "a signature" in request.decision_reason
    html = response.content.decode()
    missing = re.search(r'id="dmca-missing">(.*?)</div>', html, re.S).group(1)
    assert "<li>a signature</li>" in missing
    assert "<li>a statement of accuracy and authority under penalty of perjury</li>" in missing
    assert "copyrighted work" not in missing
    assert "Needs information" in html


def test_bad_lines_are_named_and_nothing_is_created(client):
    response = post(client, "copyright", **PERSON, **DMCA, identifiers=(
        "https://ok.example/a.jpg\n"
        "ftp://files.example/b.jpg\n"
        "md5,nothex\n"
        "www.example.com/c.jpg\n"
        "domain:example.com\n"
        "sha256,abc\n"
    ))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Line 2: &#x27;ftp://files.example/b.jpg&#x27; must start with http:// or https://" in html
    assert "Line 3: md5 &#x27;nothex&#x27; is not hexadecimal" in html
    assert "Line 4: &#x27;www.example.com/c.jpg&#x27; looks like a web address" in html
    assert "Line 5: domain: lines are only for opt-out requests" in html
    assert "Line 6: sha256 must be 64 hex characters, got 3" in html
    assert "Line 1" not in html
    # What was typed is kept for correcting.
    assert "https://ok.example/a.jpg" in html and 'value="Ada Artist"' in html
    assert not RemovalRequest.objects.exists()


def test_an_oversized_report_is_refused_with_a_clear_message(client):
    lines = "\n".join(f"https://x.example/{i}.jpg" for i in range(1001))
    response = post(client, "other", **PERSON, details="x", identifiers=lines)
    assert "1,001 identifiers: a report holds at most 1,000" in response.content.decode()
    response = post(client, "other", **PERSON, details="x", identifiers="\n".join(f"md5,{i}" for i in range(60)))
    html = response.content.decode()
    assert "Line 50: md5" in html and "Line 51" not in html and "... and 10 more bad lines" in html
    assert not RemovalRequest.objects.exists()


def test_a_key_that_looks_like_a_path_can_be_given_explicitly(client, one_dataset):
    post(client, "other", **PERSON, details="x", identifiers="key,shard-3/000010005\nKEY: abc.def")
    assert list(RemovalRequest.objects.get().identifiers.values_list("kind", "value")) == [
        ("key", "shard-3/000010005"), ("key", "abc.def")]


def test_with_several_datasets_the_form_asks_which_one_a_sample_key_is_from(client, db):
    for name in ("laion-a", "laion-b"):
        Dataset.objects.create(name=name)
    page = client.get(REPORT, {"category": "other"}).content.decode()
    assert 'name="dataset"' in page and "All datasets / I don&#x27;t know" in page

    refused = post(client, "other", **PERSON, details="mine", identifiers="https://x.example/a.jpg\n000010005")
    assert refused.status_code == 200 and not RemovalRequest.objects.exists()
    assert "choose the dataset they are from" in refused.content.decode()

    post(client, "other", **PERSON, details="mine", identifiers="000010005", dataset="laion-b")
    post(client, "other", **PERSON, details="mine", identifiers="https://x.example/a.jpg")
    scoped, everywhere = RemovalRequest.objects.order_by("pk")
    assert scoped.dataset.name == "laion-b"
    assert everywhere.dataset is None  # addresses and hashes are looked for in every dataset


def test_with_one_dataset_nothing_is_asked_and_with_none_a_sample_key_is_refused(client, db):
    page = client.get(REPORT, {"category": "other"}).content.decode()
    assert 'name="dataset"' not in page
    refused = post(client, "other", **PERSON, details="mine", identifiers="000010005")
    assert not RemovalRequest.objects.exists()
    assert "No dataset is published here yet" in refused.content.decode()

    demo = Dataset.objects.create(name="demo")
    assert 'name="dataset"' not in client.get(REPORT, {"category": "other"}).content.decode()
    post(client, "other", **PERSON, details="mine", identifiers="000010005")
    assert RemovalRequest.objects.get().dataset == demo


def test_required_fields_are_named(client):
    response = post(client, "privacy", requester_name="", requester_email="not-an-email", identifiers="  \n")
    html = response.content.decode()
    assert re.search(r'id="field-requester_name".*?This field is required', html, re.S)
    assert re.search(r'id="field-requester_email".*?Enter a valid email address', html, re.S)
    assert re.search(r'id="field-identifiable".*?This field is required', html, re.S)
    assert re.search(r'id="field-identifiers".*?This field is required', html, re.S)
    assert not RemovalRequest.objects.exists()


def test_a_privacy_request_keeps_how_the_person_is_identifiable(client):
    post(client, "privacy", **PERSON, identifiable="My face, and my name in the caption",
         identifiers="https://photos.example/me.jpg")
    request = RemovalRequest.objects.get()
    assert request.category == "privacy"
    assert request.requester_details == {"identifiable": "My face, and my name in the caption"}
    assert not hasattr(request, "dmca_notice")


def test_an_other_report_says_what_the_problem_is(client):
    response = post(client, "other", **PERSON, identifiers="https://x.example/a.jpg")
    assert re.search(r'id="field-details".*?This field is required', response.content.decode(), re.S)
    post(client, "other", **PERSON, identifiers="https://x.example/a.jpg", details="Doxxing: my address")
    assert RemovalRequest.objects.get().requester_details == {"details": "Doxxing: my address"}


def test_a_csam_report_may_be_anonymous_and_points_to_the_hotlines(client, one_dataset):
    page = client.get(REPORT, {"category": "csam"}).content.decode()
    assert "report.cybertip.org" in page and "Do not download" in page
    assert 'id="hash-file"' not in page  # nobody should handle such a file to hash it
    # ... so nothing on the page points to a hashing tool or asks for a hash: addresses and keys only.
    assert "tool below" not in page and "sha256" not in page.lower() and "hashes are" not in page
    assert "the web address (https://…) where you saw the material, or its sample key" in page
    assert "never download, open, save or hash the material" in page
    response = post(client, "csam", requester_name="", requester_email="", identifiers="000010005")
    request = RemovalRequest.objects.get()
    assert (request.category, request.channel, request.requester_name, request.requester_email) == (
        "csam", "web_form", "", "")
    assert request.legal_hold_until is not None
    assert "report.iwf.org.uk" in response.content.decode()
    Dataset.objects.create(name="second-dataset")  # where the form asks which dataset, that help names no hash
    several = client.get(REPORT, {"category": "csam"}).content.decode()
    assert "Which dataset" in several and "hashes are" not in several and "Web addresses are looked for" in several


def test_an_ncii_report_needs_a_way_to_reach_the_person_and_nothing_more(client):
    response = post(client, "ncii", identifiers="https://x.example/a.jpg")
    assert not RemovalRequest.objects.exists()
    assert "This field is required" in response.content.decode()
    page = client.get(REPORT, {"category": "ncii"}).content.decode()
    assert 'name="details"' not in page and 'name="reference"' not in page
    post(client, "ncii", **PERSON, identifiers="https://x.example/a.jpg")
    assert RemovalRequest.objects.get().requester_details == {}


def test_a_form_sent_twice_makes_one_request(client):
    fields = {**PERSON, "identifiers": "https://x.example/a.jpg", "details": "spam", "nonce": "n-123"}
    first = post(client, "other", **fields)
    again = post(client, "other", **fields)
    request = RemovalRequest.objects.get()
    assert first.status_code == 200 and again.status_code == 409
    assert request.tracking_id in again.content.decode()
    assert 'id="secret"' not in again.content.decode()


# ---------------------------------------------------------------- opt-out


def test_an_opt_out_is_approved_on_receipt_when_the_policy_never_reviews(client):
    Policy.objects.update_or_create(pk=1, defaults={"opt_out_review": Policy.OptOutReview.NEVER})
    response = post(client, "opt_out", **PERSON, identifiers="https://ada.example/gallery/1.jpg")
    request = RemovalRequest.objects.get()
    assert request.status == Status.APPROVED
    assert request.approved_by_label == "policy:opt-out"
    assert "approved on receipt" in response.content.decode()


def test_an_opt_out_by_domain_shows_the_token_and_exact_proof_address(client):
    response = post(client, "opt_out", **PERSON, identifiers=(
        "domain:Ada.Example\nprefix:https://www.ada.example/gallery/\nprefix:https://ada.example/old/"))
    request = RemovalRequest.objects.get()
    assert request.status == Status.RECEIVED  # the default policy waits for the proof
    assert list(request.identifiers.values_list("kind", "value")) == [
        ("domain", "ada.example"), ("url_prefix", "https://www.ada.example/gallery/"),
        ("url_prefix", "https://ada.example/old/")]
    claims = {c.domain: c.token for c in DomainClaim.objects.filter(request=request)}
    assert set(claims) == {"ada.example", "www.ada.example"}
    html = response.content.decode()
    for domain, token in claims.items():
        assert token in html
        assert f"<code>https://{domain}/.well-known/takedown-opt-out.txt</code>" in html


class ProofServer:
    """A real HTTP server on loopback that serves the opt-out proof file."""

    def __init__(self):
        self.body = b""
        self.hosts: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                owner.hosts.append(self.headers.get("host", ""))
                if self.path != "/.well-known/takedown-opt-out.txt":
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def proof_server(settings):
    """Domain proofs fetched over http from a loopback port instead of https://DOMAIN/."""
    server = ProofServer()
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True
    settings.DOMAIN_PROOF_URL = f"http://{{domain}}:{server.port}/.well-known/takedown-opt-out.txt"
    yield server
    server.server.shutdown()
    server.server.server_close()


def _status(client, tracking, secret):
    return client.post(STATUS, {"tracking_id": tracking, "secret": secret})


def _token(html):
    return re.search(r'name="token" value="([^"]+)"', html).group(1)


def test_checking_a_domain_against_a_real_server_proves_it_and_approves_the_opt_out(client, proof_server):
    response = post(client, "opt_out", **PERSON, identifiers="domain:localhost\nhttp://localhost/art/1.png")
    tracking, secret = receipt_of(response)
    claim = DomainClaim.objects.get()
    assert claim.domain == "localhost"
    assert f"http://localhost:{proof_server.port}/.well-known/takedown-opt-out.txt" in response.content.decode()

    page = _status(client, tracking, secret).content.decode()
    assert "Not checked yet" in page and claim.token in page
    check = {"action": "check", "token": _token(page), "claim": claim.pk}

    proof_server.body = b"someone-else's-token\n"
    page = client.post(STATUS, check).content.decode()
    claim.refresh_from_db()
    assert claim.verified_at is None and "does not hold the token" in claim.last_error
    assert "not proven yet" in page
    assert RemovalRequest.objects.get().status == Status.RECEIVED

    proof_server.body = f"# takedown opt-out\n{claim.token}\n".encode()
    page = client.post(STATUS, check).content.decode()
    claim.refresh_from_db()
    assert claim.verified_at is not None and claim.last_error == ""
    assert "the domain is proven" in page
    assert proof_server.hosts[-1] == f"localhost:{proof_server.port}"
    request = RemovalRequest.objects.get()
    assert request.status == Status.APPROVED and request.approved_by_label == "policy:opt-out"
    assert re.search(r'id="status">Approved', page)


def test_a_proof_that_cannot_be_fetched_is_reported_not_raised(client, proof_server):
    proof_server.server.shutdown()
    proof_server.server.server_close()
    response = post(client, "opt_out", **PERSON, identifiers="domain:localhost")
    tracking, secret = receipt_of(response)
    page = _status(client, tracking, secret).content.decode()
    claim = DomainClaim.objects.get()
    response = client.post(STATUS, {"action": "check", "token": _token(page), "claim": claim.pk})
    assert response.status_code == 200
    assert "not proven yet" in response.content.decode()
    claim.refresh_from_db()
    assert claim.verified_at is None and claim.last_error


# ---------------------------------------------------------------- status page


def test_the_receipt_secret_shows_the_status_and_a_wrong_one_shows_nothing(client):
    response = post(client, "copyright", **PERSON, **{**DMCA, "contact": ""}, identifiers="https://c.example/a.jpg")
    tracking, secret = receipt_of(response)

    page = _status(client, tracking.lower(), f" {secret} ")
    html = page.content.decode()
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    assert tracking in html and "Needs information" in html and "Copyright" in html
    assert re.search(r'id="dmca-status">.*?<li>contact information</li>', html, re.S)
    assert re.search(r'id="identifier-count">1<', html)
    assert "https://c.example/a.jpg" not in html  # counts only
    assert secret not in html

    wrong = _status(client, tracking, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    unknown = _status(client, "TD-0000000000", secret)
    for response in (wrong, unknown):
        html = response.content.decode()
        assert response.status_code == 404
        assert "No request matches that tracking id and secret." in html
        assert "Copyright" not in html and "Needs information" not in html and 'name="token"' not in html
    missing = client.post(STATUS, {"tracking_id": "", "secret": ""})
    assert missing.status_code == 400
    assert "Enter the tracking id" in missing.content.decode() and "Enter the secret" in missing.content.decode()


def test_the_status_page_never_shows_what_a_csam_report_named(client, one_dataset):
    response = post(client, "csam", identifiers="https://bad.example/x.jpg\n000010005")
    tracking, secret = receipt_of(response)
    Identifier.objects.filter(request__tracking_id=tracking).update(match_count=3)
    html = _status(client, tracking, secret).content.decode()
    assert "bad.example" not in html and "000010005" not in html
    assert re.search(r'id="identifier-count">2<', html)
    assert 'id="matched-count"' not in html
    assert "only counts" in html


def test_a_forged_or_foreign_token_is_refused_cleanly(client):
    post(client, "opt_out", **PERSON, identifiers="domain:ada.example")
    claim = DomainClaim.objects.get()
    response = client.post(STATUS, {"action": "check", "token": "forged", "claim": claim.pk})
    assert response.status_code == 400 and "has expired" in response.content.decode()
    response = client.post(CSV_URL, {"token": "forged"})
    assert response.status_code == 400 and "has expired" in response.content.decode()

    other = receipt_of(post(client, "opt_out", **PERSON, identifiers="domain:other.example"))
    page = _status(client, *other).content.decode()
    for bad_claim in (claim.pk, "abc", ""):
        response = client.post(STATUS, {"action": "check", "token": _token(page), "claim": bad_claim})
        assert response.status_code == 400
        assert "that domain claim is not part of this request" in response.content.decode()
    claim.refresh_from_db()
    assert claim.checked_at is None


def test_a_new_secret_voids_old_status_tokens(client):
    from apps.removals.services import status_secret_issue

    tracking, secret = receipt_of(post(client, "privacy", **PERSON, identifiable="face",
                                       identifiers="https://p.example/me.jpg"))
    token = _token(_status(client, tracking, secret).content.decode())
    assert client.post(CSV_URL, {"token": token}).status_code == 200
    status_secret_issue(request=RemovalRequest.objects.get())
    assert client.post(CSV_URL, {"token": token}).status_code == 400
    assert _status(client, tracking, secret).status_code == 404


def test_a_privacy_requester_sees_and_downloads_the_mirrors_told(client, release, release_on_disk, operator):
    applied = mirror_create(name="lab-copy", datasets=[release.dataset], actor=Actor.system()).mirror
    mirror_create(name="=cmd-mirror", datasets=[release.dataset], actor=Actor.system())
    key = release_on_disk.data.successful()[0].key
    tracking, secret = receipt_of(post(client, "privacy", **PERSON, identifiable="my face",
                                       identifiers=key))
    request = RemovalRequest.objects.get()
    html = _status(client, tracking, secret).content.decode()
    assert 'id="recipients-none"' in html

    request_approve(request=request, actor=operator)
    publish(request)
    ack_record(mirror=applied, dataset="demo", release="2026-11", version=1, status="applied")

    html = _status(client, tracking, secret).content.decode()
    table = re.search(r'<table id="recipients">(.*?)</table>', html, re.S).group(1)
    assert "lab-copy" in table and "=cmd-mirror" in table and "demo / 2026-11" in table
    assert "not yet" in table  # the second mirror has not applied it
    assert re.search(r'id="matched-count">[1-9]', html)

    response = client.post(CSV_URL, {"token": _token(html)})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="{tracking}-recipients.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["mirror"] for r in rows] == ["'=cmd-mirror", "lab-copy"]  # no formula runs in a spreadsheet
    by_name = {r["mirror"]: r for r in rows}
    assert by_name["lab-copy"]["applied_at"] and not by_name["'=cmd-mirror"]["applied_at"]
    assert by_name["lab-copy"]["dataset"] == "demo" and by_name["lab-copy"]["blocklist_version"] == "1"
    assert "contact" not in response.content.decode()


def test_the_csv_is_only_for_privacy_requests(client):
    tracking, secret = receipt_of(post(client, "other", **PERSON, details="x", identifiers="https://o.example/"))
    html = _status(client, tracking, secret).content.decode()
    assert "recipients.csv" not in html
    token = status_token(RemovalRequest.objects.get())
    response = client.post(CSV_URL, {"token": token})
    assert response.status_code == 400
    assert "privacy (GDPR erasure) requests" in response.content.decode()
    assert client.get(CSV_URL).status_code == 405


# ---------------------------------------------------------------- abuse


def test_reports_are_rate_limited_per_client(client, settings):
    settings.INTAKE_REPORTS_PER_HOUR = 3
    fields = {**PERSON, "details": "spam", "identifiers": "https://x.example/a.jpg"}
    for _ in range(3):
        assert post(client, "other", **fields).status_code == 200
    response = post(client, "other", **fields)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    html = response.content.decode()
    assert "Too many reports" in html and "at most 3 reports an hour" in html and "Nothing was saved" in html
    assert RemovalRequest.objects.count() == 3
    # Another client is not affected; X-Forwarded-For is not trusted to pick the client.
    assert client.post(REPORT, {"category": "other", **fields}, REMOTE_ADDR="192.0.2.9").status_code == 200
    assert client.post(REPORT, {"category": "other", **fields}, HTTP_X_FORWARDED_FOR="192.0.2.10").status_code == 429
    assert RemovalRequest.objects.count() == 4
    # Reading the form is never limited.
    assert client.get(REPORT, {"category": "other"}).status_code == 200


def test_behind_trusted_proxies_the_client_is_the_address_the_first_proxy_saw(client, settings):
    settings.INTAKE_REPORTS_PER_HOUR = 1
    settings.TRUSTED_PROXIES = 1
    fields = {"category": "other", **PERSON, "details": "x", "identifiers": "https://x.example/a.jpg"}
    proxy = {"REMOTE_ADDR": "10.0.0.2"}  # every request reaches the app from the proxy
    assert client.post(REPORT, fields, HTTP_X_FORWARDED_FOR="198.51.100.1", **proxy).status_code == 200
    assert client.post(REPORT, fields, HTTP_X_FORWARDED_FOR="198.51.100.2", **proxy).status_code == 200
    # A client writing its own X-Forwarded-For entry is still the address the proxy appended.
    forged = "203.0.113.77, 198.51.100.1"
    assert client.post(REPORT, fields, HTTP_X_FORWARDED_FOR=forged, **proxy).status_code == 429
    assert RemovalRequest.objects.count() == 2


def test_status_checks_are_rate_limited_per_client(client, settings):
    settings.INTAKE_STATUS_CHECKS_PER_HOUR = 2
    tracking, secret = receipt_of(post(client, "other", **PERSON, details="x", identifiers="https://o.example/"))
    assert _status(client, tracking, "wrong").status_code == 404
    assert _status(client, tracking, secret).status_code == 200
    response = _status(client, tracking, secret)
    assert response.status_code == 429
    assert "Too many status checks" in response.content.decode()
    assert tracking not in response.content.decode()


def test_uploads_are_refused_and_nothing_is_written():
    client = Client()  # multipart, as a form with enctype="multipart/form-data" would send
    image = SimpleUploadedFile("photo.jpg", b"\xff\xd8\xff\xe0 not really a jpeg", content_type="image/jpeg")
    response = client.post(REPORT, {"category": "other", **PERSON, "details": "x",
                                    "identifiers": "https://x.example/a.jpg", "file": image})
    assert response.status_code == 400
    assert "never accepts files" in response.content.decode()
    # Multipart without any file is refused too: this form is never multipart.
    response = client.post(REPORT, {"category": "other", **PERSON, "details": "x",
                                    "identifiers": "https://x.example/a.jpg"})  # the test client sends multipart
    assert response.status_code == 400
    response = client.post(STATUS, {"tracking_id": "TD-1", "secret": "x"})
    assert response.status_code == 400
    assert not RemovalRequest.objects.exists()


def test_csrf_is_enforced():
    strict = FormClient(enforce_csrf_checks=True)
    fields = {"category": "other", **PERSON, "details": "x", "identifiers": "https://x.example/a.jpg"}
    assert strict.post(REPORT, fields).status_code == 403
    assert strict.post(STATUS, {"tracking_id": "TD-1", "secret": "x"}).status_code == 403
    page = strict.get(REPORT, {"category": "other"})
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    response = strict.post(REPORT, {"csrfmiddlewaretoken": token, **fields})
    assert response.status_code == 200
    assert RemovalRequest.objects.count() == 1


# ---------------------------------------------------------------- completing a DMCA notice


def test_an_incomplete_notice_is_completed_on_the_status_page(client, django_capture_on_commit_callbacks):
    partial = {**DMCA, "good_faith": "", "contact": ""}
    tracking, secret = receipt_of(post(client, "copyright", **PERSON, identifiers="https://x.example/a.jpg",
                                       **partial))
    request = RemovalRequest.objects.get(tracking_id=tracking)
    assert request.status == Status.NEEDS_INFO
    page = _status(client, tracking, secret).content.decode()
    assert 'id="dmca-form"' in page and DMCA["copyrighted_work"].replace("'", "&#x27;") in page  # kept to correct
    token = _token(page)

    still = client.post(STATUS, {"action": "dmca", "token": token, **partial, "contact": "ada@example.org"})
    assert "Your notice still lacks: a statement of good-faith belief." in still.content.decode()
    request.refresh_from_db()
    assert request.status == Status.NEEDS_INFO

    done = client.post(STATUS, {"action": "dmca", "token": token, **DMCA})

    html = done.content.decode()
    assert done.status_code == 200 and "your notice is now complete" in html and 'id="dmca-form"' not in html
    request.refresh_from_db()
    assert request.status == Status.TRIAGE and request.dmca_notice.missing() == []
    assert RemovalRequest.objects.count() == 1


def test_a_decided_reports_notice_cannot_be_changed(client, operator):
    tracking, secret = receipt_of(post(client, "copyright", **PERSON, identifiers="https://x.example/a.jpg",
                                       **{**DMCA, "signature": ""}))
    request = RemovalRequest.objects.get(tracking_id=tracking)
    token = _token(_status(client, tracking, secret).content.decode())
    from apps.removals.services import request_reject
    request_reject(request=request, actor=operator, reason="not ours")

    response = client.post(STATUS, {"action": "dmca", "token": token, **DMCA})

    assert response.status_code == 400
    assert "already rejected: its notice can no longer be changed" in response.content.decode()
    assert RemovalRequest.objects.get(pk=request.pk).dmca_notice.missing() == ["a signature"]
    assert client.post(STATUS, {"action": "dmca", "token": "forged", **DMCA}).status_code == 400
