"""Request -> mirrors -> version -> files in a real browser: a reviewer opens a published request, sees a mirror
still serving its samples and one that applied it, follows the version, views its manifest and downloads a shard
file (the bytes on disk)."""
import importlib
import json
import re

import pytest
from playwright.sync_api import expect

from apps.core.actors import Actor
from apps.mirrors.services import ack_record, mirror_create
from tests.support.accounts import browser_sign_in
from tests.support.removals import approve_and_publish

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _reviewer_group() -> None:
    """The reviewer group as the roles migration makes it: a transactional test run before this one flushed it."""
    from django.contrib.auth.models import Group, Permission

    wanted = importlib.import_module("apps.removals.migrations.0004_roles").ROLE_PERMISSIONS["reviewer"]
    group, _ = Group.objects.get_or_create(name="reviewer")
    group.permissions.add(*[Permission.objects.get(content_type__app_label=name.split(".")[0],
                                                   codename=name.split(".")[1]) for name in wanted])


def test_a_reviewer_follows_a_request_to_its_mirrors_and_version_files(page, live_server, release, release_on_disk,
                                                                      operator, staff_with):
    from apps.blocklists.selectors import storage

    for name in ("applied-copy", "slow-copy"):
        mirror_create(name=name, datasets=[release.dataset], actor=Actor.system())
    request, [version] = approve_and_publish(operator, [release_on_disk.data.successful()[0].key], "copyright")
    from apps.mirrors.models import Mirror

    ack_record(mirror=Mirror.objects.get(name="applied-copy"), dataset="demo", release="2026-11", version=1,
               status="applied")
    _reviewer_group()
    reviewer = staff_with("walker", "reviewer")

    browser_sign_in(page, live_server.url, reviewer)
    page.goto(f"{live_server.url}/admin/removals/removalrequest/{request.pk}/change/")

    mirrors = page.locator("#mirrors")
    expect(mirrors.locator('tr[data-mirror="applied-copy"]')).to_contain_text("applied")
    expect(mirrors.locator('tr[data-mirror="slow-copy"]')).to_contain_text("still serving (not applied yet)")
    mirrors.get_by_role("link", name=str(version)).click()
    expect(page).to_have_url(re.compile(rf"/admin/blocklists/blocklistversion/{version.pk}/change/$"))
    expect(page.locator("#version-requests")).to_contain_text(request.tracking_id)
    expect(page.locator('#version-mirrors tr[data-state="applied"]')).to_contain_text("applied-copy")

    files = page.locator("#version-files")
    files.locator("tr", has_text="manifest.json").first.get_by_role("link", name="view").click()
    expect(page.locator("#file-text")).to_contain_text('"version": 1')
    expect(page.locator("#file-facts")).to_contain_text("matches the manifest")
    page.go_back()

    with storage().open(f"{version.path}/manifest.json", "rb") as handle:
        shard_file = json.loads(handle.read())["shards"][0]["file"]
    with page.expect_download() as info:
        files.locator("tr", has_text=shard_file).get_by_role("link", name="download").click()
    download = info.value
    assert download.suggested_filename == f"demo-2026-11-v1-{shard_file}"
    with storage().open(f"{version.path}/{shard_file}", "rb") as handle:
        assert open(download.path(), "rb").read() == handle.read()
