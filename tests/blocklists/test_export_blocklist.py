import hashlib
import json

import pytest
from django.core.management.base import CommandError

from apps.core.identifiers import ParsedIdentifier
from apps.removals.services import request_approve, request_create
from tests.support.removals import publish


@pytest.fixture
def published(release, release_on_disk, operator):
    versions = []
    for sample in release_on_disk.data.successful()[:2]:
        request = request_create(category="other", actor=operator,
                                 identifiers=[ParsedIdentifier(line=2, kind="key", value=sample.key)])
        request_approve(request=request, actor=operator)
        versions += publish(request)
    return versions


def test_it_writes_the_latest_version_with_its_signature_and_shard_files(run_command, published, tmp_path):
    out, _ = run_command("export_blocklist", "demo", "2026-11", "--out", str(tmp_path / "bl"))
    manifest_bytes = (tmp_path / "bl" / "manifest.json").read_bytes()
    manifest = json.loads(manifest_bytes)
    assert manifest["version"] == 2
    assert hashlib.sha256(manifest_bytes).hexdigest() == published[-1].manifest_sha256
    assert (tmp_path / "bl" / "manifest.json.sig").read_text().strip()
    for entry in manifest["shards"]:
        assert hashlib.sha256((tmp_path / "bl" / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
    assert "Wrote demo/2026-11 v2 (2 keys" in out


def test_it_writes_an_older_version_on_request(run_command, published, tmp_path):
    run_command("export_blocklist", "demo", "2026-11", "--out", str(tmp_path / "v1"), "--version", "1")
    assert json.loads((tmp_path / "v1" / "manifest.json").read_text())["total_keys"] == 1


def test_it_refuses_unknown_versions_and_busy_folders(run_command, published, tmp_path):
    with pytest.raises(CommandError, match=r"demo/2026-11 has no blocklist version 9 \(latest is 2\)"):
        run_command("export_blocklist", "demo", "2026-11", "--out", str(tmp_path / "x"), "--version", "9")
    assert not (tmp_path / "x").exists()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("mine")
    with pytest.raises(CommandError, match="exists and is not empty"):
        run_command("export_blocklist", "demo", "2026-11", "--out", str(tmp_path / "busy"))


def test_it_says_when_nothing_is_published(run_command, release, tmp_path):
    with pytest.raises(CommandError, match="demo/2026-11 has no published blocklist yet"):
        run_command("export_blocklist", "demo", "2026-11", "--out", str(tmp_path / "x"))
