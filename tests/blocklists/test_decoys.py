"""Decoy padding: versions that add csam or ncii keys also add benign keys from the release's pool."""
import io
import math

import pyarrow.parquet as pq
import pytest
from django.core.management.base import CommandError
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.blocklists import services
from apps.blocklists.models import BlocklistVersion, DecoyKey, DecoyPool
from apps.blocklists.selectors import blocklist_read
from apps.blocklists.services import blocklist_publish
from apps.core.identifiers import ParsedIdentifier
from apps.matching.models import Match
from apps.removals.services import request_approve, request_create
from apps.transparency.selectors import Period, report
from tests.blocklists.support import manifest, publish
from tests.support.removals import publish_fails


@pytest.fixture
def samples(release_on_disk):
    return release_on_disk.data.successful()


@pytest.fixture
def pool_csv(tmp_path, samples):
    """Twelve benign keys across the shards."""
    path = tmp_path / "decoys.csv"
    path.write_text("key,reason\n" + "".join(f"{s.key},low quality\n" for s in samples[8:20] + samples[28:32]))
    return path


@pytest.fixture
def padded(release, run_command, pool_csv):
    out, _ = run_command("load_decoys", "demo", "2026-11", str(pool_csv), "--ratio", "2")
    return out


def _read(version, name):
    data = blocklist_read(version=version, name=name)
    table = pq.read_table(io.BytesIO(data))
    assert table.column_names == ["key"]  # nothing but the key, in every file
    keys = table.column("key").to_pylist()
    assert data == services._shard_file(keys[::-1])  # sorted and deterministic: order says nothing
    return set(keys)


def _all_keys(version):
    return set().union(*(_read(version, e["file"]) for e in manifest(version)["shards"]))


def _added(version):
    return set().union(*(_read(version, e["added_file"]) for e in manifest(version)["delta"]["shards"]
                         if e["added_file"]))


def _matched(request):
    return set(Match.objects.filter(request=request).values_list("key", flat=True))


def _decoys():
    return set(DecoyKey.objects.values_list("key", flat=True))


def test_the_command_loads_a_pool_and_sets_the_ratio(padded, release):
    pool = DecoyPool.objects.get(release=release)
    assert pool.keys.count() == 16 and str(pool.padding_ratio) == "2.00"
    assert "16 decoys added, 0 already in the pool; 16 in the pool, 16 not yet drawn; padding ratio 2.00" in padded
    assert AuditEvent.objects.filter(action="decoy_pool.loaded").exists()
    assert AuditEvent.objects.filter(action="decoy_pool.configured").exists()


def test_loading_again_keeps_what_is_there(padded, run_command, pool_csv):
    out, _ = run_command("load_decoys", "demo", "2026-11", str(pool_csv))
    assert "0 decoys added, 16 already in the pool" in out


def test_bad_lines_are_named_and_nothing_is_loaded(release, run_command, tmp_path, samples, operator):
    publish(operator, [samples[0]], "copyright")
    path = tmp_path / "bad.csv"
    path.write_text(f"key\n{samples[5].key}\nnot-a-key\n\n{samples[0].key}\n,extra\n")
    with pytest.raises(CommandError) as caught:
        run_command("load_decoys", "demo", "2026-11", str(path))
    assert str(caught.value).splitlines() == ["bad.csv: 1 bad line, nothing was loaded",
                                              "  line 6: 2 fields, but the header names only 1"]
    path.write_text(f"key\n{samples[5].key}\nnot-a-key\n\n{samples[0].key}\n")
    with pytest.raises(CommandError) as caught:
        run_command("load_decoys", "demo", "2026-11", str(path))
    assert str(caught.value).splitlines() == [
        "bad.csv: 2 bad lines, nothing was loaded",
        "  line 3: key 'not-a-key' is not a sample of demo/2026-11",
        f"  line 5: key '{samples[0].key}' is blocked by a removal request; a decoy must be benign",
    ]
    assert not DecoyKey.objects.exists()
    path.write_text("kind,value\nkey,1\n")
    with pytest.raises(CommandError, match="bad.csv line 1: header must name the column key, got 'kind,value'"):
        run_command("load_decoys", "demo", "2026-11", str(path))
    good = tmp_path / "good.csv"
    good.write_text(f"key\n{samples[5].key}\n")
    with pytest.raises(CommandError, match="padding ratio must be from 0 to 100 with at most 2 decimals, got 101"):
        run_command("load_decoys", "demo", "2026-11", str(good), "--ratio", "101")
    assert not DecoyKey.objects.exists()


def test_sensitive_additions_are_padded_so_no_file_singles_them_out(padded, release, samples, operator):
    csam = publish(operator, [samples[0], samples[40]], "csam")
    v1 = BlocklistVersion.objects.get()
    sensitive = _matched(csam)
    decoys_in_v1 = _all_keys(v1) - sensitive
    assert decoys_in_v1 <= _decoys()
    assert len(decoys_in_v1) == math.ceil(2 * len(sensitive))
    assert (v1.key_count, v1.decoy_count, v1.decoys_added) == (len(sensitive), len(decoys_in_v1), len(decoys_in_v1))
    assert manifest(v1)["total_keys"] == v1.total_keys == len(sensitive) * 3

    copyright_ = publish(operator, [samples[2]], "copyright")  # not sensitive: no padding
    v2 = BlocklistVersion.objects.get(version=2)
    assert _added(v2) == _matched(copyright_) and v2.decoys_added == 0

    ncii = publish(operator, [samples[25]], "ncii")
    v3 = BlocklistVersion.objects.get(version=3)
    added = _added(v3)
    new_sensitive = _matched(ncii)
    new_decoys = added - new_sensitive
    # Every added key is sensitive or a decoy, the decoys are the stated share, and none was used before.
    assert added <= new_sensitive | _decoys()
    assert len(new_decoys) == math.ceil(2 * len(new_sensitive)) == v3.decoys_added
    assert not new_decoys & decoys_in_v1
    assert manifest(v3)["delta"]["added_keys"] == len(added) == v3.added_keys
    assert set(DecoyKey.objects.filter(drawn_in=v3).values_list("key", flat=True)) == new_decoys
    assert v3.key_count == len(sensitive | _matched(copyright_) | new_sensitive)


def test_decoys_are_drawn_deterministically(padded, release, samples, operator, monkeypatch):
    request = request_create(category="csam", actor=operator,
                             identifiers=[ParsedIdentifier(line=2, kind="key", value=samples[0].key)])
    request_approve(request=request, actor=operator)
    real_write = services._write
    written = {}

    def failing(path, data):
        if path.endswith("manifest.json"):
            raise OSError("storage went away")
        written[path] = data
        real_write(path, data)

    monkeypatch.setattr(services, "_write", failing)
    assert publish_fails(request) == "OSError: storage went away"
    assert not BlocklistVersion.objects.exists() and not DecoyKey.objects.filter(drawn_in__isnull=False).exists()
    monkeypatch.setattr(services, "_write", real_write)
    version = blocklist_publish(release=release, requests=[request], actor=operator).version
    keys_written = {path: data for path, data in written.items() if path.endswith(".parquet")}
    assert keys_written  # the same decoys again: the same key files (the signature covers a new created_at)
    for path, data in keys_written.items():
        assert blocklist_read(version=version, name=path.rsplit("/", 1)[1]) == data


def test_decoys_are_never_unblocked(padded, release, samples, operator):
    csam = publish(operator, [samples[0]], "csam")
    v1 = BlocklistVersion.objects.get()
    decoys = _all_keys(v1) - _matched(csam)
    assert decoys
    csam.status = "rejected"
    csam.save(update_fields=["status"])
    v2 = blocklist_publish(release=release).version
    assert _all_keys(v2) == decoys
    removed = set().union(*(_read(v2, e["removed_file"]) for e in manifest(v2)["delta"]["shards"]
                            if e["removed_file"]))
    assert removed == _matched(csam)
    assert (v2.key_count, v2.decoy_count) == (0, len(decoys))


def test_a_short_pool_pads_with_what_it_has(release, samples, operator, tmp_path, run_command, caplog):
    path = tmp_path / "few.csv"
    path.write_text(f"key\n{samples[10].key}\n")
    run_command("load_decoys", "demo", "2026-11", str(path), "--ratio", "3")
    publish(operator, [samples[0]], "ncii")
    version = BlocklistVersion.objects.get()
    assert version.decoys_added == 1
    assert "decoy pool short by" in caplog.text
    event = AuditEvent.objects.get(action="blocklist.published")
    assert event.after["decoys_short"] == 3 * len(_matched(version.requests.get())) - 1


def test_transparency_counts_leave_decoys_out(padded, release, samples, operator):
    csam = publish(operator, [samples[0], samples[40]], "csam")
    assert BlocklistVersion.objects.get().decoy_count > 0
    assert report(Period.month_of(timezone.now())).samples_removed == len(_matched(csam))


def test_staff_see_counts_without_decoys_and_only_restricted_staff_see_decoy_keys(
        padded, release, samples, operator, client, staff, staff_with):
    publish(operator, [samples[0]], "csam")
    version = BlocklistVersion.objects.get()
    client.force_login(staff)
    page = client.get("/admin/blocklists/blocklistversion/").content.decode()
    assert f"{version.decoy_count} decoys" in page
    assert client.get(f"/admin/blocklists/blocklistversion/{version.pk}/change/").status_code == 200
    assert client.get("/admin/blocklists/decoypool/add/").status_code == 200
    assert client.get("/admin/blocklists/decoykey/").status_code == 200

    reviewer = staff_with("rev", "reviewer")
    client.force_login(reviewer)
    assert client.get("/admin/blocklists/decoykey/").status_code == 403
    assert client.get("/admin/blocklists/decoypool/").status_code == 403

    admin_user = staff_with("boss", "admin")
    client.force_login(admin_user)
    pool = DecoyPool.objects.get()
    response = client.post(f"/admin/blocklists/decoypool/{pool.pk}/change/", {"padding_ratio": "0.5"})
    assert response.status_code == 302
    pool.refresh_from_db()
    assert str(pool.padding_ratio) == "0.50"
    assert AuditEvent.objects.filter(action="decoy_pool.configured", actor_label="user:boss").exists()
