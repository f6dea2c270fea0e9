"""Index files on object storage: a real S3-compatible server (moto's, on loopback) per module."""
import os
import shutil
import subprocess
import sys
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import fsspec
import pytest

from apps.core.errors import TakedownError
from apps.core.identifiers import normalise
from apps.datasets import synthetic
from apps.datasets.models import Release
from apps.datasets.services import release_finalize, release_import, release_index_parts, release_register
from apps.index import storage
from apps.index.index import open_index
from apps.matching.selectors import Query, hits_for

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Bucket:
    path: str  # bucket/prefix, as the filesystem names it
    options: dict

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        """The filesystem storage uses (fsspec keeps one per options), made anew in a forked process."""
        return fsspec.url_to_fs(f"s3://{self.path}", **self.options)[0]

    def keys(self, release: str = "demo/2026-11") -> dict[str, int]:
        """Every object under a release's prefix, relative to it, with its size."""
        base = f"{self.path}/{release}"
        self.fs.invalidate_cache()
        return {path[len(base) + 1:]: info["size"] for path, info in self.fs.find(base, detail=True).items()}


@pytest.fixture
def bucket(s3_endpoint, settings) -> Bucket:
    """A fresh bucket for each test, configured as the index storage."""
    options = {"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing"}
    name = f"takedown-{uuid.uuid4().hex[:12]}"
    bucket = Bucket(path=f"{name}/indexes", options=options)
    bucket.fs.mkdir(name)
    settings.INDEX_STORAGE_URL = f"s3://{name}/indexes"
    settings.INDEX_STORAGE_OPTIONS = options
    return bucket


def _import(release_on_disk, operator) -> Release:
    return release_import(dataset="demo", release="2026-11", path=release_on_disk.path, actor=operator).release


def _local_files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*")
            if p.is_file() and not p.name.startswith(".")}


def _check_matches(release_on_disk) -> None:
    expected = synthetic.make_removals(release_on_disk.data, seed=3, n_sha1=0, n_unmatched=2)
    queries = [Query(ref=i, kind=e.kind, value=normalise(e.kind, e.value)) for i, e in enumerate(expected)]
    found = defaultdict(set)
    for hit in hits_for(queries):
        found[hit.ref].add(hit.key)
    assert any(e.keys for e in expected)
    for i, removal in enumerate(expected):
        assert found.get(i, set()) == set(removal.keys), (removal.kind, removal.value)


def test_an_import_pushes_parts_segments_and_index_json(db, bucket, release_on_disk, run_command):
    run_command("import_release", "demo", "2026-11", str(release_on_disk.path), "--no-progress")

    release = Release.objects.get(dataset__name="demo", name="2026-11")
    local = _local_files(release.index_path)
    remote = bucket.keys()
    assert remote == local  # every file, byte for byte the same size
    shards = sorted(release.shards.values_list("name", flat=True))
    assert {f"parts/{s}{ext}" for s in shards for ext in (".arrow", ".json")} <= set(remote)
    assert {"index.json", "seg-0000/meta.json", "seg-0000/hosts.arrow", "seg-0000/url_fps.npy"} <= set(remote)
    assert storage.remote_prefix(release.index_path) == f"s3://{bucket.path}/demo/2026-11"


def test_a_machine_without_the_index_pulls_it_to_match(db, bucket, release_on_disk, operator):
    release = _import(release_on_disk, operator)
    pushed = _local_files(release.index_path)
    shutil.rmtree(release.index_path)  # another machine: same database and bucket, nothing on disk

    _check_matches(release_on_disk)

    assert _local_files(release.index_path) == pushed
    assert open_index(release.index_path).rows == release.sample_count


def test_a_finalize_pulls_parts_built_on_other_machines(db, bucket, release_on_disk, operator):
    release, _ = release_register(dataset="demo", release="2026-11", path=release_on_disk.path, actor=operator)
    release_index_parts(release=release)
    shutil.rmtree(release.index_path / "parts")  # the workers that built them were elsewhere

    release = release_finalize(release=release)

    assert release.status == Release.Status.READY
    assert len(list((release.index_path / "parts").glob("*.json"))) == release.shards.count()
    _check_matches(release_on_disk)


def test_a_part_on_no_machine_and_not_in_the_bucket_fails_the_release(db, bucket, release_on_disk, operator):
    release, _ = release_register(dataset="demo", release="2026-11", path=release_on_disk.path, actor=operator)
    release_index_parts(release=release)
    shard = release.shards.order_by("name").first().name
    bucket.fs.rm(f"{bucket.path}/demo/2026-11/parts/{shard}.arrow")
    (release.index_path / "parts" / f"{shard}.arrow").unlink()

    with pytest.raises(TakedownError, match=f"shard {shard}: its part is neither"):
        release_finalize(release=release)
    assert Release.objects.get(pk=release.pk).status == Release.Status.FAILED


def test_index_json_is_pushed_last_and_each_part_json_after_its_arrow(db, bucket, release_on_disk, operator,
                                                                    monkeypatch):
    calls = []  # (files pushed, whether the bucket held index.json then), in this process
    push = storage.push

    def recording_push(local_root, relative_paths):
        relative_paths = list(relative_paths)
        calls.append((relative_paths, bucket.fs.exists(f"{bucket.path}/demo/2026-11/index.json")))
        push(local_root, relative_paths)

    monkeypatch.setattr(storage, "push", recording_push)
    release = _import(release_on_disk, operator)

    assert calls[-1] == (["index.json"], False)
    assert all(not seen and "index.json" not in files for files, seen in calls[:-1])
    segment_files = {f for files, _ in calls for f in files if f.startswith("seg-")}
    assert segment_files == {f for f in _local_files(release.index_path) if f.startswith("seg-")}
    for files, _ in calls:  # parts pushed here (workers may be other processes): .arrow, then .json
        if files[0].startswith("parts/"):
            assert [Path(f).suffix for f in files] == [".arrow", ".json"]
    assert "index.json" in bucket.keys()


def test_with_no_object_store_nothing_reaches_one(db, settings, release_on_disk, operator, monkeypatch):
    settings.INDEX_STORAGE_URL = ""

    def no_remote(*args, **kwargs):
        raise AssertionError("an object store was used with INDEX_STORAGE_URL empty")

    monkeypatch.setattr(fsspec, "url_to_fs", no_remote)  # forked ingest workers inherit it
    release = _import(release_on_disk, operator)
    _check_matches(release_on_disk)

    assert storage.remote_prefix(release.index_path) is None
    assert storage.pull_index(release.index_path) is False
    shutil.rmtree(release.index_path)
    with pytest.raises(TakedownError, match="no index"):
        open_index(release.index_path)


def test_a_failed_download_leaves_no_file_behind(bucket, tmp_path, monkeypatch):
    root = tmp_path / "index" / "demo" / "2026-11"
    (root / "parts").mkdir(parents=True)
    (root / "parts" / "00000.arrow").write_bytes(b"x" * 1000)
    storage.push(root, ["parts/00000.arrow"])
    (root / "parts" / "00000.arrow").unlink()

    def broken_get_file(remote, local, **kwargs):
        Path(local).write_bytes(b"x" * 10)  # the connection drops part-way
        raise OSError("connection reset")

    monkeypatch.setattr(bucket.fs, "get_file", broken_get_file)
    with pytest.raises(OSError, match="connection reset"):
        storage.pull(root, ["parts/00000.arrow"])
    assert list((root / "parts").iterdir()) == []


def test_pull_index_fetches_only_what_is_missing_or_differs(db, bucket, release_on_disk, operator, monkeypatch):
    release = _import(release_on_disk, operator)
    root = release.index_path
    shard = release.shards.order_by("name").first().name
    (root / "index.json").unlink()
    (root / "parts" / f"{shard}.json").unlink()
    (root / "seg-0000" / "hosts.arrow").write_bytes(b"truncated")
    fetched = []
    get_file = bucket.fs.get_file

    def counting_get_file(remote, local, **kwargs):
        fetched.append(remote.rsplit("/2026-11/", 1)[1])
        return get_file(remote, local, **kwargs)

    monkeypatch.setattr(bucket.fs, "get_file", counting_get_file)
    assert storage.pull_index(root) is True

    assert sorted(fetched) == sorted([f"parts/{shard}.json", "seg-0000/hosts.arrow"])
    assert _local_files(root) == bucket.keys()
    _check_matches(release_on_disk)


@pytest.mark.parametrize("value, message", [
    ("{not json", "INDEX_STORAGE_OPTIONS is not valid JSON"),
    ('["a list"]', "INDEX_STORAGE_OPTIONS must be a JSON object"),
])
def test_bad_storage_options_stop_start_up_naming_the_variable(value, message):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings", "INDEX_STORAGE_URL": "s3://bucket/prefix",
           "INDEX_STORAGE_OPTIONS": value}
    done = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert message in done.stderr
