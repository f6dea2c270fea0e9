"""apply_blocklist on real img2dataset-like shards."""

import os
import stat

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mirror_client import apply_blocklist, member_key
from mirror_client.errors import ApplyError


def test_it_drops_exactly_the_blocked_keys_from_parquet_and_tar(data_dir, read_tar):
    before_rows = pq.read_table(data_dir / "00001.parquet")
    before_members = read_tar(data_dir / "00001.tar")

    result = apply_blocklist(data_dir, {"00001": {"000012", "000015"}})

    after_rows = pq.read_table(data_dir / "00001.parquet")
    assert after_rows.column("key").to_pylist() == [k for k in before_rows.column("key").to_pylist()
                                                     if k not in {"000012", "000015"}]
    expected = [m for m in before_members if member_key(m[0]) not in {"000012", "000015"}]
    assert read_tar(data_dir / "00001.tar") == expected  # names, order, bytes and headers
    assert len(before_members) - len(expected) == 6  # jpg, txt, json of each
    assert result.samples_removed == 2
    assert result.rows_removed == 2
    assert result.members_removed == 6
    assert result.shards_rewritten == ["00001"]
    assert result.files_rewritten == ["00001.parquet", "00001.tar"]
    assert result.summary() == "2 samples removed from 1 shard"


def test_it_keeps_schema_metadata_columns_and_other_rows(data_dir):
    before = pq.read_table(data_dir / "00000.parquet")

    apply_blocklist(data_dir, {"00000": {"000003"}})

    after = pq.read_table(data_dir / "00000.parquet")
    assert after.schema.equals(before.schema, check_metadata=True)
    assert after.schema.metadata[b"written_by"] == b"img2dataset 1.47 (test)"
    keep = pa.array([k != "000003" for k in before.column("key").to_pylist()])
    assert after.equals(before.filter(keep))
    meta = pq.ParquetFile(data_dir / "00000.parquet").metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert meta.row_group(0).num_rows == 4


def test_it_leaves_other_shards_and_stats_untouched(data_dir, snapshot):
    before = snapshot(data_dir)

    apply_blocklist(data_dir, {"00002": {"000020"}})

    after = snapshot(data_dir)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"00002.parquet", "00002.tar"}
    assert set(after) == set(before)  # no temporary file left behind


def test_it_is_idempotent(data_dir, snapshot):
    blocked = {"00000": {"000001"}, "00001": {"000011", "000019"}}
    first = apply_blocklist(data_dir, blocked)
    after_first = snapshot(data_dir)

    second = apply_blocklist(data_dir, blocked)

    assert first.samples_removed == 3
    assert second.samples_removed == 0
    assert second.files_rewritten == []
    assert second.shards_clean == ["00000", "00001"]
    assert snapshot(data_dir) == after_first


def test_it_removes_a_failed_download_from_the_parquet_only(data_dir, read_tar):
    tar_before = read_tar(data_dir / "00000.tar")

    result = apply_blocklist(data_dir, {"00000": {"000009"}})  # row 9 failed: not in the tar

    assert "000009" not in pq.read_table(data_dir / "00000.parquet").column("key").to_pylist()
    assert read_tar(data_dir / "00000.tar") == tar_before
    assert result.files_rewritten == ["00000.parquet"]
    assert result.samples_removed == 1


def test_it_compares_integer_key_columns_as_padded_strings(tmp_path, make_shard, read_tar):
    make_shard(tmp_path, 1, key_type="int")
    assert pq.read_schema(tmp_path / "00001.parquet").field("key").type == pa.int64()

    result = apply_blocklist(tmp_path, {"00001": {"000014", "999999999999999999999999"}})

    keys = pq.read_table(tmp_path / "00001.parquet").column("key").to_pylist()
    assert 14 not in keys and len(keys) == 9
    assert pq.read_schema(tmp_path / "00001.parquet").field("key").type == pa.int64()
    assert not any(member_key(m[0]) == "000014" for m in read_tar(tmp_path / "00001.tar"))
    assert result.samples_removed == 1


def test_it_handles_png_members(tmp_path, make_shard, read_tar):
    make_shard(tmp_path, 0, fmt="PNG")

    apply_blocklist(tmp_path, {"00000": {"000000"}})

    names = [m[0] for m in read_tar(tmp_path / "00000.tar")]
    assert names[:3] == ["000001.png", "000001.txt", "000001.json"]


def test_it_skips_and_reports_missing_shards(data_dir):
    result = apply_blocklist(data_dir, {"00007": {"000070"}, "00000": {"000000"}})

    assert result.shards_missing == ["00007"]
    assert result.shards_rewritten == ["00000"]
    assert result.summary() == "1 sample removed from 1 shard; 1 shard not present locally"
    assert not (data_dir / "00007.parquet").exists()


def test_it_rewrites_a_tar_without_its_parquet(data_dir, read_tar):
    (data_dir / "00000.parquet").unlink()

    result = apply_blocklist(data_dir, {"00000": {"000004"}})

    assert result.files_rewritten == ["00000.tar"]
    assert not any(member_key(m[0]) == "000004" for m in read_tar(data_dir / "00000.tar"))


def test_it_leaves_the_original_intact_when_the_replace_fails(data_dir, snapshot, monkeypatch):
    before = snapshot(data_dir)

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(ApplyError, match=r"cannot rewrite .*00000\.parquet: .*No space left"):
        apply_blocklist(data_dir, {"00000": {"000000"}})

    assert snapshot(data_dir) == before  # same files, same bytes, no temporary file


def test_it_leaves_the_original_intact_when_writing_fails_midway(data_dir, snapshot, monkeypatch):
    from mirror_client import fsutil

    before = snapshot(data_dir)
    real_fsync = fsutil.os.fsync
    calls = []

    def fsync(fd):  # the disk fails while the tar's new copy is flushed, after the parquet's went through
        name = os.readlink(f"/proc/self/fd/{fd}")
        calls.append(name)
        if ".00001.tar." in name:
            raise OSError(5, "Input/output error")
        return real_fsync(fd)

    monkeypatch.setattr(fsutil.os, "fsync", fsync)
    # The parquet (written first) is rewritten; the tar write fails half-way.
    with pytest.raises(ApplyError, match=r"00001\.tar: .*Input/output error"):
        apply_blocklist(data_dir, {"00001": {"000010"}})

    after = snapshot(data_dir)
    assert after["00001.tar"] == before["00001.tar"]
    assert set(after) == set(before)
    monkeypatch.undo()
    # Re-running finishes the job.
    assert apply_blocklist(data_dir, {"00001": {"000010"}}).files_rewritten == ["00001.tar"]


def test_it_keeps_the_file_mode(data_dir):
    os.chmod(data_dir / "00000.tar", 0o640)

    apply_blocklist(data_dir, {"00000": {"000000"}})

    assert stat.S_IMODE(os.stat(data_dir / "00000.tar").st_mode) == 0o640


def test_it_names_a_parquet_without_key_column(tmp_path):
    pq.write_table(pa.table({"url": ["a"], "caption": ["b"]}), tmp_path / "00000.parquet")

    with pytest.raises(ApplyError, match=r"00000\.parquet has no 'key' column"):
        apply_blocklist(tmp_path, {"00000": {"000000"}})


def test_it_refuses_a_shard_name_that_is_a_path(data_dir):
    with pytest.raises(ApplyError, match="unsafe shard name"):
        apply_blocklist(data_dir, {"../00000": {"000000"}})


def test_it_takes_the_member_key_up_to_the_first_dot():
    assert member_key("000012.jpg") == "000012"
    assert member_key("000012.seg.json") == "000012"
    assert member_key("sub/000012.txt") == "000012"
