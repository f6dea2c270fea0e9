import csv
import hashlib
import io
import json
import tarfile
from itertools import combinations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from apps.core import identifiers, pdq
from apps.datasets import synthetic

IMG2DATASET_COLUMNS = [
    "caption", "url", "key", "status", "error_message", "width", "height",
    "original_width", "original_height", "exif",
]


@pytest.fixture(scope="module")
def synthetic_release(tmp_path_factory):
    return synthetic.write_release(tmp_path_factory.mktemp("release"), shards=3, samples_per_shard=20)


def _tar_members(path):
    with tarfile.open(path) as archive:
        return {member.name: archive.extractfile(member).read() for member in archive.getmembers()}


def _member_names(path):
    with tarfile.open(path) as archive:
        return archive.getnames()


def _rows(release, shard):
    return pq.read_table(release.parquet_path(shard)).to_pylist()


def test_it_writes_each_shard_as_img2dataset_does(synthetic_release):
    names = sorted(p.name for p in synthetic_release.path.iterdir())
    assert names == [
        f"0000{i}{suffix}" for i in range(3) for suffix in (".parquet", ".tar", "_stats.json")
    ]
    assert synthetic_release.shard_names == ["00000", "00001", "00002"]
    assert len(synthetic_release.samples) == 60


def test_it_numbers_keys_by_shard_and_row(synthetic_release):
    # 20 per shard: ceil(log10(20)) = 2 row digits after 5 shard digits.
    assert synthetic_release.samples[0].key == "0000000"
    assert synthetic_release.by_key("0000105").shard == "00001"
    assert synthetic_release.by_key("0000105").row == 5
    assert [s.key for s in synthetic_release.samples] == sorted(s.key for s in synthetic_release.samples)
    assert all(len(s.key) == 7 for s in synthetic_release.samples)


def test_it_pads_keys_to_the_order_of_magnitude_of_samples_per_shard(tmp_path):
    assert synthetic.sample_key(1, 5, samples_per_shard=10_000) == "000010005"
    assert synthetic.sample_key(1, 5, samples_per_shard=500) == "00001005"
    assert synthetic.sample_key(1, 5, samples_per_shard=20) == "0000105"
    assert synthetic.sample_key(3, 7, samples_per_shard=10_000, oom_shard_count=8) == "000000030007"

    nine = synthetic.write_release(
        tmp_path / "9", shards=1, samples_per_shard=10_000, last_shard_samples=4,
        dead_fraction=0, duplicate_urls=0, duplicate_images=0, with_tars=False,
    )
    eight = synthetic.write_release(
        tmp_path / "8", shards=1, samples_per_shard=500, last_shard_samples=4,
        dead_fraction=0, duplicate_urls=0, duplicate_images=0, with_tars=False,
    )
    assert [s.key for s in nine.samples] == ["000000000", "000000001", "000000002", "000000003"]
    assert [s.key for s in eight.samples] == ["00000000", "00000001", "00000002", "00000003"]
    assert pq.read_table(nine.parquet_path("00000")).column("key").to_pylist()[3] == "000000003"


def test_it_names_shards_with_oom_shard_count_digits(tmp_path):
    release = synthetic.write_release(
        tmp_path, shards=2, samples_per_shard=3, oom_shard_count=8, dead_fraction=0,
        duplicate_urls=0, duplicate_images=0,
    )
    assert (tmp_path / "00000001.parquet").is_file()
    assert (tmp_path / "00000001.tar").is_file()
    assert release.samples[-1].key == "000000012"


def test_it_makes_a_short_last_shard(tmp_path):
    release = synthetic.write_release(tmp_path, shards=2, samples_per_shard=10, last_shard_samples=3)
    assert pq.ParquetFile(tmp_path / "00001.parquet").metadata.num_rows == 3
    assert json.loads((tmp_path / "00001_stats.json").read_text())["count"] == 3
    assert [s.key for s in release.samples if s.shard == "00001"] == ["000010", "000011", "000012"]


def test_it_writes_the_columns_in_img2dataset_order(synthetic_release):
    schema = pq.read_schema(synthetic_release.parquet_path("00000"))
    assert schema.names == [*IMG2DATASET_COLUMNS, "sha256"]
    assert schema.field("width").type == pa.int32()
    assert schema.field("original_height").type == pa.int32()
    assert schema.field("key").type == pa.string()


def test_it_writes_any_hash_columns_a_pdq_column_and_mapped_names(tmp_path):
    release = synthetic.write_release(
        tmp_path, shards=1, samples_per_shard=6, hash_columns=("md5", "sha1", "sha256"), with_pdq_column=True,
        url_column="URL", caption_column="TEXT", key_column="uid", duplicate_urls=0, duplicate_images=0,
    )
    schema = pq.read_schema(tmp_path / "00000.parquet")
    assert schema.names == [
        "TEXT", "URL", "uid", *IMG2DATASET_COLUMNS[3:], "md5", "sha1", "sha256", "pdq",
    ]
    rows = pq.read_table(tmp_path / "00000.parquet").to_pylist()
    for row in rows:
        sample = release.by_key(row["uid"])
        assert row["URL"] == sample.url
        assert row["TEXT"] == sample.caption
        assert row["pdq"] == sample.pdq
        assert row["sha1"] == sample.sha1


def test_it_leaves_failed_rows_out_of_the_tars(synthetic_release):
    failed = [s for s in synthetic_release.samples if not s.ok]
    assert 1 <= len(failed) <= 12
    assert {s.status for s in failed} <= {synthetic.FAILED_TO_DOWNLOAD, synthetic.FAILED_TO_RESIZE}
    for shard in synthetic_release.shard_names:
        successful = [s.key for s in synthetic_release.successful() if s.shard == shard]
        # webdataset writes a sample's members in sorted extension order.
        expected = [f"{key}.{ext}" for key in successful for ext in ("jpg", "json", "txt")]
        assert _member_names(synthetic_release.tar_path(shard)) == expected
        for row in _rows(synthetic_release, shard):
            if row["status"] != synthetic.SUCCESS:
                assert row["error_message"]
                assert row["sha256"] is None
                assert row["width"] is None and row["original_width"] is None
                assert row["exif"] is None
            else:
                assert row["error_message"] is None


def test_it_counts_outcomes_in_the_stats(synthetic_release):
    for shard in synthetic_release.shard_names:
        stats = json.loads((synthetic_release.path / f"{shard}_stats.json").read_text())
        samples = [s for s in synthetic_release.samples if s.shard == shard]
        assert stats["count"] == len(samples)
        assert stats["successes"] == sum(s.ok for s in samples)
        assert stats["failed_to_download"] + stats["failed_to_resize"] == sum(not s.ok for s in samples)
        assert stats["status_dict"]["success"] == stats["successes"]
        assert sum(stats["status_dict"].values()) == stats["count"]
        assert stats["duration"] == pytest.approx(stats["end_time"] - stats["start_time"])


def test_it_hashes_the_original_download_not_the_tar_member(synthetic_release):
    for shard in synthetic_release.shard_names:
        members = _tar_members(synthetic_release.tar_path(shard))
        for row in _rows(synthetic_release, shard):
            if row["status"] != synthetic.SUCCESS:
                continue
            original = synthetic_release.originals[row["key"]]
            member = members[f"{row['key']}.jpg"]
            assert row["sha256"] == hashlib.sha256(original).hexdigest()
            assert synthetic_release.by_key(row["key"]).md5 == hashlib.md5(original).hexdigest()
            assert member != original
            assert hashlib.sha256(member).hexdigest() != row["sha256"]


def test_it_stores_re_encoded_square_members_with_caption_and_row(synthetic_release):
    shard = synthetic_release.shard_names[1]
    members = _tar_members(synthetic_release.tar_path(shard))
    for row in _rows(synthetic_release, shard):
        if row["status"] != synthetic.SUCCESS:
            continue
        sample = synthetic_release.by_key(row["key"])
        with Image.open(io.BytesIO(members[f"{row['key']}.jpg"])) as image:
            assert image.format == "JPEG"
            assert image.size == (256, 256)
        with Image.open(io.BytesIO(synthetic_release.originals[row["key"]])) as original:
            assert original.size == (row["original_width"], row["original_height"]) == (
                sample.original_width, sample.original_height,
            )
            assert original.format == sample.original_format
            assert 300 <= original.width <= 640
        assert (row["width"], row["height"]) == (256, 256)
        assert json.loads(members[f"{row['key']}.json"]) == row
        assert members[f"{row['key']}.txt"].decode() == row["caption"] == sample.caption


def test_it_reports_the_exif_of_originals_that_carry_some(synthetic_release):
    rows = [row for shard in synthetic_release.shard_names for row in _rows(synthetic_release, shard)]
    with_exif = [row for row in rows if row["exif"] not in (None, "{}")]
    assert with_exif
    for row in with_exif:
        reported = json.loads(row["exif"])
        with Image.open(io.BytesIO(synthetic_release.originals[row["key"]])) as original:
            assert original.getexif()[0x010F] == reported["Image Make"]
    assert all(json.loads(row["exif"]) == {} for row in rows if row["exif"] == "{}")


def test_it_stamps_tar_members_as_webdataset_does(synthetic_release):
    stats = json.loads((synthetic_release.path / "00000_stats.json").read_text())
    with tarfile.open(synthetic_release.tar_path("00000")) as archive:
        for member in archive.getmembers():
            assert (member.uname, member.gname, member.mode) == ("bigdata", "bigdata", 0o444)
            # time.time() floats, kept at full precision in PAX headers.
            assert "mtime" in member.pax_headers
            assert stats["start_time"] <= member.mtime <= stats["end_time"]


def test_it_writes_byte_identical_files_for_the_same_arguments(tmp_path):
    first = synthetic.write_release(tmp_path / "a", shards=2, samples_per_shard=8, seed=5, with_pdq_column=True)
    second = synthetic.write_release(tmp_path / "b", shards=2, samples_per_shard=8, seed=5, with_pdq_column=True)
    other = synthetic.write_release(tmp_path / "c", shards=2, samples_per_shard=8, seed=6, with_pdq_column=True)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert first.samples == second.samples
    assert first.originals == second.originals
    assert (tmp_path / "a" / "00000.parquet").read_bytes() != (tmp_path / "c" / "00000.parquet").read_bytes()
    assert set(first.originals.values()).isdisjoint(other.originals.values())


def test_it_draws_pictures_far_apart_in_pdq(synthetic_release):
    distinct = {s.sha256: s for s in synthetic_release.successful()}.values()
    distances = [pdq.distance(a.pdq, b.pdq) for a, b in combinations(distinct, 2)]
    assert np.median(distances) > 100
    assert min(distances) > 80


def _picture_box(sample, image_size=256):
    """Where img2dataset's border mode puts the picture: longer side scaled to the square, centred."""
    scale = image_size / max(sample.original_width, sample.original_height)
    width, height = round(sample.original_width * scale), round(sample.original_height * scale)
    left, top = (image_size - width) // 2, (image_size - height) // 2
    return left, top, left + width, top + height


def test_it_pads_tar_members_like_img2dataset_and_keeps_the_picture_within_pdq_match_distance(synthetic_release):
    member_distances, copy_distances, padded_distances = [], [], []
    for shard in synthetic_release.shard_names:
        for name, data in _tar_members(synthetic_release.tar_path(shard)).items():
            if not name.endswith(".jpg"):
                continue
            sample = synthetic_release.by_key(name.removesuffix(".jpg"))
            image = pdq.decode(data)
            assert image.size == (256, 256)
            inside = pdq.hash_image(image.crop(_picture_box(sample)))
            assert inside == (sample.member_pdq, sample.member_quality)
            assert sample.member_quality >= 50 and sample.pdq_quality >= 50
            member_distances.append(pdq.distance(sample.member_pdq, sample.pdq))
            copy, _ = pdq.compute(synthetic.reencode(synthetic_release.originals[sample.key]))
            copy_distances.append(pdq.distance(copy, sample.member_pdq))
            if abs(sample.original_width - sample.original_height) > 0.2 * sample.original_width:
                padded_distances.append(pdq.distance(pdq.compute(data)[0], sample.pdq))
    assert max(member_distances) <= synthetic.PDQ_MATCH_DISTANCE
    assert max(copy_distances) <= synthetic.PDQ_MATCH_DISTANCE
    assert np.mean(member_distances) < 16
    assert np.mean(copy_distances) < 16
    # The white padding alone moves the hash out of reach: importers must look inside it.
    assert padded_distances and min(padded_distances) > synthetic.PDQ_MATCH_DISTANCE


def test_it_center_crops_near_square_pictures_on_request(tmp_path):
    release = synthetic.write_release(tmp_path, shards=1, samples_per_shard=6, seed=4, resize_mode="center_crop")
    for name, data in _tar_members(release.tar_path("00000")).items():
        if name.endswith(".jpg"):
            sample = release.by_key(name.removesuffix(".jpg"))
            assert pdq.compute(data) == (sample.member_pdq, sample.member_quality)
            assert pdq.distance(sample.member_pdq, sample.pdq) <= synthetic.PDQ_MATCH_DISTANCE


def test_it_repeats_an_image_under_another_url_in_another_shard(synthetic_release):
    [pair] = synthetic_release.duplicates()["image"]
    first, second = (synthetic_release.by_key(key) for key in pair)
    assert first.sha256 == second.sha256 and first.md5 == second.md5
    assert synthetic_release.originals[first.key] == synthetic_release.originals[second.key]
    assert first.canonical_url != second.canonical_url
    assert first.shard != second.shard
    rows = [row for shard in synthetic_release.shard_names for row in _rows(synthetic_release, shard)]
    column = {row["key"]: row["sha256"] for row in rows}
    assert column[first.key] == column[second.key] == first.sha256


def test_it_repeats_a_url_with_another_image(synthetic_release):
    [pair] = synthetic_release.duplicates()["url"]
    first, second = (synthetic_release.by_key(key) for key in pair)
    assert first.url == second.url
    assert first.ok and second.ok
    assert first.sha256 != second.sha256
    assert pdq.distance(first.pdq, second.pdq) > synthetic.PDQ_MATCH_DISTANCE


def test_it_writes_urls_that_normalise_to_their_canonical_form(synthetic_release):
    for sample in synthetic_release.samples:
        assert identifiers.normalise_url(sample.url) == sample.canonical_url
        assert sample.url.startswith(("https://", "HTTPS://"))
    non_canonical = [s.url for s in synthetic_release.samples if s.url != s.canonical_url]
    assert any(":443/" in url for url in non_canonical)
    assert any("%7E" in url for url in non_canonical)
    assert any("%c3%a9" in url for url in non_canonical)
    assert any(url.split("/")[2] != url.split("/")[2].lower() for url in non_canonical)
    assert any("?" in s.url for s in synthetic_release.samples)


def _hits(release, kind, value):
    """Which successful samples an identifier hits, worked out independently of make_removals."""
    hits = set()
    for sample in release.successful():
        if kind == "url":
            hit = identifiers.normalise_url(sample.url) == identifiers.normalise("url", value)
        elif kind == "key":
            hit = sample.key == value
        elif kind == "pdq":
            hit = pdq.distance(sample.member_pdq, value) <= synthetic.PDQ_MATCH_DISTANCE
        else:
            hit = kind in release.hash_columns and getattr(sample, kind) == value
        if hit:
            hits.add(sample.key)
    return hits


def test_it_makes_removals_of_every_kind_with_the_keys_they_hit(synthetic_release):
    removals = synthetic.make_removals(synthetic_release, n_sha1=1)
    kinds = [r.kind for r in removals]
    assert kinds[:9] == ["url", "url", "key", "key", "md5", "sha1", "sha256", "pdq", "pdq"]
    for removal in removals:
        assert identifiers.normalise(removal.kind, removal.value)
        assert removal.keys == _hits(synthetic_release, removal.kind, removal.value), removal
    matched = removals[:9]
    unmatched = removals[9:]
    assert len(unmatched) == 2
    assert all(not r.keys for r in unmatched)
    assert all(r.keys for r in matched if r.kind not in ("md5", "sha1"))
    # The default release has only sha256: md5 and sha1 of originals exist but cannot match.
    assert all(not r.keys for r in matched if r.kind in ("md5", "sha1"))


def test_it_makes_removals_that_hit_both_copies_of_a_duplicate(synthetic_release):
    removals = synthetic.make_removals(synthetic_release)
    [image_pair] = synthetic_release.duplicates()["image"]
    [url_pair] = synthetic_release.duplicates()["url"]
    first_url = next(r for r in removals if r.kind == "url")
    assert first_url.keys == set(url_pair)
    assert first_url.value != synthetic_release.by_key(url_pair[0]).url  # an equivalent, non-normalised spelling
    assert next(r for r in removals if r.kind == "sha256").keys == set(image_pair)
    assert next(r for r in removals if r.kind == "pdq").keys == set(image_pair)


def test_it_makes_pdq_removals_from_copies_not_stored_hashes(synthetic_release):
    stored = {s.pdq for s in synthetic_release.successful()} | {s.member_pdq for s in synthetic_release.successful()}
    for removal in synthetic.make_removals(synthetic_release, n_pdq=4):
        if removal.kind == "pdq" and removal.keys:
            assert removal.value not in stored


def test_it_expects_hash_hits_only_for_the_columns_a_release_has(tmp_path):
    release = synthetic.write_release(
        tmp_path, shards=2, samples_per_shard=8, hash_columns=("md5",), with_tars=False,
    )
    removals = synthetic.make_removals(release, n_md5=1, n_sha256=1, n_pdq=1, n_unmatched=0)
    by_kind = {r.kind: r for r in removals}
    assert by_kind["md5"].keys
    assert by_kind["sha256"].value == release.by_key(next(iter(by_kind["md5"].keys))).sha256
    assert not by_kind["sha256"].keys
    assert not by_kind["pdq"].keys  # no tars and no pdq column: nothing to compare with


def test_it_makes_the_same_removals_for_the_same_seed(synthetic_release):
    assert synthetic.make_removals(synthetic_release, seed=3) == synthetic.make_removals(synthetic_release, seed=3)
    assert synthetic.make_removals(synthetic_release, seed=3) != synthetic.make_removals(synthetic_release, seed=4)


def test_it_writes_a_removals_csv(tmp_path, synthetic_release):
    removals = synthetic.make_removals(synthetic_release)
    path = synthetic.write_removals_csv(tmp_path / "removals.csv", removals)
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["kind", "value"]
    assert rows[1:] == [[r.kind, r.value] for r in removals]
    synthetic.write_removals_csv(tmp_path / "plain.csv", [("key", "0000001")])
    assert (tmp_path / "plain.csv").read_text() == "kind,value\nkey,0000001\n"


def test_it_re_encodes_copies(synthetic_release):
    original = synthetic_release.originals[synthetic_release.successful()[0].key]
    copy = synthetic.reencode(original, size=200, quality=60)
    with Image.open(io.BytesIO(copy)) as image:
        assert image.format == "JPEG"
        assert max(image.size) == 200
    png = synthetic.reencode(original, fmt="PNG")
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
    assert copy != original and png != original


def test_it_writes_plain_laion_style_parquet(tmp_path):
    rows = synthetic.write_plain_parquet(tmp_path, files=2, rows_per_file=5)
    files = sorted(tmp_path.glob("*.parquet"))
    assert len(files) == 2
    assert files[0].name.startswith("part-00000-") and files[0].name.endswith("-c000.snappy.parquet")
    schema = pq.read_schema(files[0])
    assert schema.names == ["URL", "TEXT", "WIDTH", "HEIGHT", "similarity", "hash", "punsafe", "pwatermark"]
    assert schema.field("hash").type == pa.int64()
    assert len(rows) == 10
    for path in files:
        on_disk = pq.read_table(path).to_pylist()
        assert on_disk == [r.values for r in rows if r.file == path.name]
        assert [r.row for r in rows if r.file == path.name] == list(range(5))
    assert len({r.values["URL"] for r in rows}) == 10


def test_it_refuses_impossible_releases(tmp_path):
    with pytest.raises(ValueError, match="hash"):
        synthetic.write_release(tmp_path, hash_columns=("sha512",))
    with pytest.raises(ValueError, match="duplicates"):
        synthetic.write_release(tmp_path, shards=1, samples_per_shard=3, duplicate_images=2)
