import hashlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management.base import CommandError

from apps.audit.models import AuditEvent
from apps.core import pdq
from apps.datasets import synthetic
from apps.datasets.models import Release
from tests.support.index import index_rows


def test_it_indexes_every_successful_sample_with_its_hashes(db, run_command, release_on_disk):
    out, err = run_command("import_release", "demo", "2026-11", str(release_on_disk.path))

    release = Release.objects.get(dataset__name="demo", name="2026-11")
    expected = release_on_disk.data.successful()
    assert "Imported demo/2026-11: 3 shards, 60 rows" in out
    assert release.status == Release.Status.READY
    stored = index_rows(release)
    assert release.sample_count == len(expected) == len(stored)
    assert release.shards.count() == 3
    for sample in expected:
        row = stored[sample.key]
        assert row["shard"] == sample.shard
        assert row["url"] == sample.canonical_url
        assert (row["md5"], row["sha256"]) == (sample.md5, sample.sha256)
    dead = [s for s in release_on_disk.data.samples if not s.ok]
    assert dead and not {s.key for s in dead} & set(stored)
    assert "shards" in err  # the progress bar, on the terminal's error stream


def test_it_hashes_the_tar_images(db, release_on_disk, release):
    stored = index_rows(release)
    assert release.image_count == len(release_on_disk.data.successful())
    for sample in release_on_disk.data.successful():
        row = stored[sample.key]
        assert row["pdq"] == sample.member_pdq
        assert row["pdq_quality"] == sample.member_quality
        assert pdq.distance(row["pdq"], sample.pdq) <= 31  # the original's hash is near the re-encoded one
        member = _members(release_on_disk.data, sample)
        assert row["img_md5"] == hashlib.md5(member).hexdigest()
        assert row["img_sha256"] == hashlib.sha256(member).hexdigest()


def _members(data, sample) -> bytes:
    import tarfile

    with tarfile.open(data.tar_path(sample.shard)) as archive:
        return archive.extractfile(f"{sample.key}.jpg").read()


def test_it_changes_nothing_when_run_again(db, run_command, release_on_disk, release):
    events = AuditEvent.objects.count()
    out, _ = run_command("import_release", "demo", "2026-11", str(release_on_disk.path), "--no-progress")
    assert "already imported from these files" in out
    assert Release.objects.count() == 1
    assert len(index_rows(release)) == release.sample_count
    assert AuditEvent.objects.count() == events


def test_it_refuses_other_files_under_an_existing_release(db, run_command, release, tmp_path):
    other = tmp_path / "other"
    synthetic.write_release(other, shards=3, samples_per_shard=20, seed=99)
    with pytest.raises(CommandError, match=r"demo/2026-11 is already imported from other files "
                                           r"\(shards that differ: 00000, 00001, 00002\)"):
        run_command("import_release", "demo", "2026-11", str(other), "--no-progress")


def test_it_maps_laion_columns_of_plain_parquet(db, run_command, tmp_path):
    rows = synthetic.write_plain_parquet(tmp_path / "laion", files=2, rows_per_file=10)
    out, _ = run_command("import_release", "laion-meta", "v1", str(tmp_path / "laion"), "--no-progress")

    assert "Columns: url=URL" in out  # found case-insensitively
    stored = index_rows(Release.objects.get())
    assert len(stored) == 20
    first = rows[0]
    assert stored[f"{first.file.removesuffix('.parquet')}:{first.row}"]["url"] == first.values["URL"]


def test_it_takes_a_mapped_key_and_hash_column(db, run_command, tmp_path):
    digest = hashlib.sha256(b"img").hexdigest()
    pq.write_table(pa.table({"uid": ["a1", "b2"], "URL": ["https://e.com/1", "https://e.com/2"],
                             "img_sha": [digest, None]}), tmp_path / "part-0.parquet")
    run_command("import_release", "datacomp", "small", str(tmp_path), "--column", "key=uid",
                "--column", "sha256=img_sha", "--no-progress")
    stored = index_rows(Release.objects.get())
    assert [(k, stored[k]["sha256"]) for k in sorted(stored)] == [("a1", digest), ("b2", None)]


@pytest.mark.parametrize("table, options, message", [
    ({"url": ["https://e.com/1"], "key": ["1"], "md5": ["not-hex"]}, [],
     r"part-0.parquet row 0, column 'md5': md5 'not-hex' is not hexadecimal"),
    ({"url": ["https://e.com/1", "https://e.com/2"], "key": ["1", "2"], "sha256": ["a" * 64, "z" * 64]}, [],
     r"part-0.parquet row 1, column 'sha256': sha256 'z{64}' is not hexadecimal"),
    ({"url": ["https://e.com/1", "https://e.com/2"], "key": ["7", "7"]}, [],
     r"part-0.parquet row 1: key '7' already appears at part-0.parquet row 0"),
    ({"link": ["https://e.com/1"]}, [], r"part-0.parquet: no URL column"),
    ({"url": ["https://e.com/1"]}, ["--column", "key=uid"], r"column 'uid' \(asked for key\) not found"),
    ({"url": ["https://e.com/1"]}, ["--column", "colour=red"], r"unknown field 'colour'"),
])
def test_it_names_what_is_wrong_and_writes_nothing(db, run_command, tmp_path, table, options, message):
    pq.write_table(pa.table(table), tmp_path / "part-0.parquet")
    with pytest.raises(CommandError, match=message):
        run_command("import_release", "bad", "r1", str(tmp_path), "--no-progress", *options)
    assert not Release.objects.filter(status=Release.Status.READY).exists()


def test_it_refuses_a_corrupt_parquet_and_a_missing_folder(db, run_command, tmp_path):
    (tmp_path / "00000.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(CommandError, match="00000.parquet: not a readable parquet file"):
        run_command("import_release", "bad", "r1", str(tmp_path), "--no-progress")
    with pytest.raises(CommandError, match="no such file or folder"):
        run_command("import_release", "bad", "r1", str(tmp_path / "nope"), "--no-progress")
    with pytest.raises(CommandError, match="release name 'r 1' must be"):
        run_command("import_release", "bad", "r 1", str(tmp_path), "--no-progress")
