"""A rights holder uses the public form in a real browser: the file is hashed on their device, never sent."""
import hashlib
import os
import re

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from apps.datasets.models import Dataset
from apps.removals.models import Channel, DmcaNotice, RemovalRequest, Status

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _fresh_limits():
    cache.clear()
    yield
    cache.clear()


def test_a_rights_holder_reports_a_hashed_file_and_checks_the_status(page, live_server, tmp_path):
    marker = b"PRIVATE-IMAGE-BYTES-" + os.urandom(32).hex().encode()
    image = tmp_path / "harbour-at-dusk.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + marker + os.urandom(4096))
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    posts = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
    for name in ("laion-a", "laion-b"):  # a host of several datasets: the form asks which one a key is from
        Dataset.objects.create(name=name)

    page.goto(f"{live_server.url}/report/")
    page.get_by_role("link", name=re.compile("^Copyright")).click()
    expect(page.get_by_role("heading", name="Report: Copyright (DMCA notice)")).to_be_visible()
    page.get_by_label("Your name").fill("Ada Artist")
    page.get_by_label("Your email").fill("ada@example.org")
    page.get_by_label("What should be removed").fill("https://cdn.example.com/img/harbour.png\n000010005")
    page.get_by_label("Which dataset").select_option("laion-b")
    page.get_by_label("Signature").fill("Ada Artist")
    page.get_by_label("The copyrighted work").fill("My painting 'Harbour at dusk' (2021)")
    page.get_by_label("The infringing material and where it is").fill("A copy, at the addresses above")
    page.get_by_label("Your contact details").fill("1 Quay Street, Leith; ada@example.org")
    page.get_by_role("checkbox", name=re.compile(r"^\(v\) I have a good-faith belief")).check()
    page.get_by_role("checkbox", name=re.compile(r"^\(vi\) The information in this notice is accurate")).check()

    page.set_input_files("#hash-file", str(image))
    expect(page.locator("#hash-status")).to_contain_text("harbour-at-dusk.png added")
    expect(page.locator("#hash-status")).to_contain_text("stayed on your device")
    textarea = page.get_by_label("What should be removed")
    expect(textarea).to_have_value(re.compile(rf"^https://cdn\.example\.com/img/harbour\.png\n000010005\n"
                                              rf"sha256,{digest}\n$"))
    assert page.eval_on_selector("#hash-file", "el => el.files.length") == 0
    assert page.eval_on_selector("#hash-file", "el => el.hasAttribute('name')") is False

    page.get_by_role("button", name="Send report").click()
    expect(page.get_by_role("heading", name="Report received")).to_be_visible()

    # The POST that sent the report carried no file: urlencoded, no file bytes, no file field.
    sent = [r for r in posts if r.url.endswith("/report/")]
    assert len(sent) == 1
    assert sent[0].headers["content-type"] == "application/x-www-form-urlencoded"
    body = sent[0].post_data_buffer
    assert marker not in body and b"harbour-at-dusk" not in body and b"hash-file" not in body
    assert f"sha256%2C{digest}".encode() in body

    request = RemovalRequest.objects.get()
    assert request.channel == Channel.WEB_FORM and request.requester_email == "ada@example.org"
    assert request.dataset.name == "laion-b"
    assert list(request.identifiers.values_list("kind", "value")) == [
        ("url", "https://cdn.example.com/img/harbour.png"), ("key", "000010005"), ("sha256", digest)]
    assert DmcaNotice.objects.get(request=request).missing() == []
    assert request.status == Status.RECEIVED

    tracking = page.locator("#tracking-id").inner_text()
    secret = page.locator("#secret").inner_text()
    assert tracking == request.tracking_id
    assert secret not in page.url and tracking not in page.url

    page.get_by_role("link", name="check your report").click()
    page.get_by_label("Tracking id").fill(tracking)
    page.get_by_label("Secret").fill("not-the-secret")
    page.get_by_role("button", name="Show status").click()
    expect(page.locator("#lookup-error")).to_contain_text("No request matches that tracking id and secret")

    page.get_by_label("Tracking id").fill(tracking)
    page.get_by_label("Secret").fill(secret)
    page.get_by_role("button", name="Show status").click()
    expect(page.get_by_role("heading", name=f"Report {tracking}")).to_be_visible()
    expect(page.locator("#status")).to_have_text("Received")
    expect(page.locator("#identifier-count")).to_have_text("3")
    expect(page.locator("#dmca-status")).to_contain_text("The notice is complete")
    assert secret not in page.url
    assert secret not in page.content()
