import pytest
from django.core.management.base import CommandError

from apps.audit.models import AuditEvent
from apps.blocklists.models import BlocklistVersion
from apps.core.identifiers import normalise
from apps.datasets import synthetic
from apps.matching.models import Match
from apps.removals.models import Identifier, RemovalRequest, Status
from tests.support.events import run_pending


@pytest.fixture
def removals(release, release_on_disk, tmp_path):
    expected = synthetic.make_removals(release_on_disk.data, seed=11)
    path = synthetic.write_removals_csv(tmp_path / "removals.csv", expected)
    return path, expected


def test_it_logs_the_request_matches_it_and_prints_the_tracking_id(run_command, removals):
    path, expected = removals
    out, _ = run_command("import_removals", str(path), "--dataset", "demo", "--category", "copyright",
                         "--source", "rights-holder",
                         "--reference", "DMCA-1")

    request = RemovalRequest.objects.get()
    assert out.strip().splitlines()[-1] == request.tracking_id
    assert (request.category, request.status, request.source, request.reference) == (
        "copyright", Status.RECEIVED, "rights-holder", "DMCA-1")
    assert request.identifiers.count() == len(expected)
    hit_keys = {k for e in expected for k in e.keys}
    assert set(Match.objects.filter(request=request).values_list("key", flat=True)) == hit_keys
    unmatched = [e for e in expected if not e.keys]
    assert f"{len(unmatched)} identifier(s) match nothing yet" in out
    assert Identifier.objects.filter(request=request, match_count=0).count() == len(unmatched)
    assert not BlocklistVersion.objects.exists()  # nothing is published before approval


def test_it_approves_and_returns_once_the_blocklist_is_published(run_command, removals, release):
    path, expected = removals
    out, _ = run_command("import_removals", str(path), "--dataset", "demo", "--category", "csam", "--source", "NCMEC",
                         "--approve")

    request = RemovalRequest.objects.get()
    assert request.status in (Status.PUBLISHED, Status.COMPLETED)
    assert request.approved_by_label.startswith("cli:")
    version = BlocklistVersion.objects.get(release=release)
    assert f"Published {version}: {version.key_count} keys" in out
    assert version.key_count == len({k for e in expected for k in e.keys} | set(
        Match.objects.filter(request=request, expanded=True).values_list("key", flat=True)))
    assert AuditEvent.objects.filter(action="request.approved", object_id=str(request.pk)).exists()


def test_it_expands_csam_url_hits_to_the_same_image(run_command, release_on_disk, release, tmp_path):
    keys = release_on_disk.data.duplicates()["image"][0]
    sample = release_on_disk.data.by_key(keys[0])
    path = synthetic.write_removals_csv(tmp_path / "r.csv", [("url", sample.url)])
    run_command("import_removals", str(path), "--category", "csam")
    matches = {m.key: m for m in Match.objects.all()}
    assert set(keys) <= set(matches)
    assert matches[keys[1]].expanded and not matches[keys[0]].expanded

    run_command("import_removals", str(path), "--category", "copyright")
    copyright_matches = Match.objects.filter(request__category="copyright")
    assert not copyright_matches.filter(expanded=True).exists()


def test_it_reports_bad_lines_by_number_and_writes_nothing(run_command, release, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("kind,value\nurl,https://ok.example/a.jpg\nsha256,abc\nmd5,zz\n")
    with pytest.raises(CommandError) as caught:
        run_command("import_removals", str(path), "--category", "csam")
    message = str(caught.value)
    assert "bad.csv: 2 bad lines, nothing was imported" in message
    assert "line 3: sha256 must be 64 hex characters, got 3" in message
    assert "line 4: md5 'zz' is not hexadecimal" in message
    assert not RemovalRequest.objects.exists()
    assert not AuditEvent.objects.filter(action="request.received").exists()


def test_it_refuses_unknown_files_users_and_categories(run_command, release, tmp_path, django_user_model):
    with pytest.raises(CommandError, match="missing.csv: cannot read"):
        run_command("import_removals", str(tmp_path / "missing.csv"), "--category", "csam")
    path = tmp_path / "ok.csv"
    path.write_text("kind,value\nkey,0000001\n")
    with pytest.raises(CommandError, match="--user 'ghost': no active staff user"):
        run_command("import_removals", str(path), "--category", "csam", "--user", "ghost")
    with pytest.raises(CommandError, match="invalid choice: 'spam'"):
        run_command("import_removals", str(path), "--category", "spam")


def test_it_sets_the_due_date_from_the_category(run_command, release, tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text("kind,value\nkey,0000001\n")
    for category in ("csam", "ncii", "privacy"):
        run_command("import_removals", str(path), "--dataset", "demo", "--category", category)
    due = {r.category: r.due_at - r.received_at for r in RemovalRequest.objects.all()}
    assert due["csam"].total_seconds() == 24 * 3600
    assert due["ncii"].total_seconds() == 48 * 3600
    assert 28 <= due["privacy"].days <= 31


def test_it_matches_every_kind_on_an_8_digit_md5_release(db, run_command, tmp_path):
    data = synthetic.write_release(tmp_path / "shards", shards=1, samples_per_shard=500, last_shard_samples=30,
                                   seed=31, hash_columns=("md5",))
    assert len(data.successful()[0].key) == 8
    run_command("import_release", "cc", "v2", str(tmp_path / "shards"), "--no-progress")
    expected = synthetic.make_removals(data, seed=2, n_md5=2, n_sha256=0, n_pdq=3)
    path = synthetic.write_removals_csv(tmp_path / "r.csv", expected)
    run_command("import_removals", str(path), "--dataset", "cc", "--category", "other")
    request = RemovalRequest.objects.get()
    for removal in expected:
        ident = request.identifiers.get(kind=removal.kind, value=normalise(removal.kind, removal.value))
        assert set(Match.objects.filter(identifier=ident).values_list("key", flat=True)) == set(removal.keys)


def test_it_says_which_releases_are_not_matched_yet_instead_of_an_all_clear(
        run_command, release, indexing_release, release_on_disk, tmp_path):
    sample = release_on_disk.data.successful()[0]
    path = synthetic.write_removals_csv(tmp_path / "r.csv", [("key", sample.key), ("key", "999999999")])
    out, _ = run_command("import_removals", str(path), "--dataset", "demo", "--category", "copyright")

    assert "Matched 1 sample (1 match) in 1 release" in out
    assert ("Not yet matched against demo/2026-12 (indexing, 0 of 3 shards): the request is matched against it "
            "once it is ready") in out
    assert "1 identifier(s) hit no ready release so far" in out and "match nothing" not in out

    run_pending()  # the release indexed and finalized, and the request matched against it, as the workers would
    request = RemovalRequest.objects.get()
    assert set(request.matches.values_list("release__name", flat=True)) == {"2026-11", "2026-12"}
    again, _ = run_command("import_removals", str(path), "--dataset", "demo", "--category", "copyright")
    assert "Not yet matched" not in again and "1 identifier(s) match nothing yet" in again
