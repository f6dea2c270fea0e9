"""Registering releases and building their indexes, shard by shard, resumably."""
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from apps.audit.services import audit_record
from apps.core import faults
from apps.core.actors import Actor
from apps.core.errors import TakedownError
from apps.core.locks import held
from apps.datasets import ingest
from apps.datasets.events import RELEASE_INDEXED, RELEASE_READY, SHARD_QUEUED
from apps.datasets.models import Dataset, Release, Shard
from apps.events.selectors import runs_for_objects
from apps.events.services import event_record, events_record, runs_retry
from apps.index import index, kernels, storage

_RELEASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_DATASET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


@dataclass
class ImportResult:
    release: Release
    created: bool
    rows: int = 0
    samples: int = 0
    images: int = 0
    problems: list[str] = field(default_factory=list)
    shard_seconds: float = 0.0
    index_seconds: float = 0.0


def _validate_names(dataset: str, release: str) -> None:
    if not _DATASET_NAME.match(dataset):
        raise TakedownError(
            f"dataset name {dataset!r} must be lower-case letters, digits, '-' or '_' (at most 100)"
        )
    if not _RELEASE_NAME.match(release):
        raise TakedownError(f"release name {release!r} must be letters, digits, '.', '-' or '_' (at most 100)")


def _content_digest(shards: list[Shard], columns: dict) -> str:
    listing = [[s.name, s.parquet_sha256, s.tar_name] for s in shards]
    body = json.dumps({"shards": listing, "columns": columns}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def release_register(*, dataset: str, release: str, path: Path, columns: dict[str, str] | None = None,
                     derived_from: str | None = None, hash_images: bool = True,
                     actor: Actor | None = None) -> tuple[Release, bool]:
    """Record a release and its shards, to be indexed; (release, created).

    The same files under an existing release name change nothing, and an
    import that stopped half-way resumes. Other files under that name are
    refused: releases are immutable. A release that failed to index is
    started again from scratch.
    """
    _validate_names(dataset, release)
    path = Path(path).expanduser().resolve()
    shards = ingest.discover_shards(path)
    # The first shard decides the columns; each shard is checked against them as it is indexed.
    column_map = ingest.resolve_columns(ingest.read_schema(shards[0].parquet), columns or {}, shards[0].parquet)
    parent = None
    if derived_from:
        parent = Release.objects.filter(dataset__name=dataset, name=derived_from).first()
        if parent is None:
            raise TakedownError(f"--derived-from {derived_from!r}: dataset {dataset!r} has no such release")

    existing = Release.objects.filter(dataset__name=dataset, name=release).first()
    if existing is not None and existing.status == Release.Status.FAILED:
        release_forget(release=existing)
        existing = None
    if existing is not None:
        _check_same_files(existing, shards, column_map)
        return existing, False

    with transaction.atomic():
        ds, _ = Dataset.objects.get_or_create(name=dataset)
        rel = Release.objects.create(
            dataset=ds, name=release, source_path=str(path), column_map=column_map.as_dict(),
            derived_from=parent, hash_images=hash_images, shard_count=len(shards),
        )
        Shard.objects.bulk_create([
            Shard(release=rel, name=s.name, parquet_name=s.parquet.name, tar_name=s.tar.name if s.tar else "")
            for s in shards
        ])
        audit_record(actor=actor or Actor.system(), action="release.registered", obj=rel, after={
            "path": str(path), "shards": len(shards), "columns": column_map.as_dict(),
            "derived_from": derived_from or None,
        })
    shutil.rmtree(rel.index_path, ignore_errors=True)  # leftovers of an earlier release of that name
    return rel, True


def _check_same_files(release: Release, shards: list[ingest.ShardFiles], column_map: ingest.ColumnMap) -> None:
    known = dict(release.shards.values_list("name", "parquet_sha256"))
    digests = {s.name: ingest.file_sha256(s.parquet) for s in shards}
    differ = [s.name for s in shards if known.get(s.name) not in ("", digests[s.name])]
    differ += sorted(set(known) ^ {s.name for s in shards})
    if release.column_map != column_map.as_dict() or differ:
        detail = f" (shards that differ: {', '.join(sorted(set(differ))[:10])})" if differ else ""
        raise TakedownError(
            f"{release} is already imported from other files{detail}; "
            "releases are immutable, so import these files under a new release name"
        )


def release_forget(*, release: Release) -> None:
    """Remove a release that never became ready, with its index files."""
    shutil.rmtree(release.index_path, ignore_errors=True)
    with transaction.atomic():
        release.shards.all().delete()
        release.delete()


def _shard_files(shard: Shard) -> ingest.ShardFiles:
    folder = Path(shard.release.source_path)
    if folder.is_file():
        folder = folder.parent
    tar = folder / shard.tar_name if shard.tar_name else None
    return ingest.ShardFiles(name=shard.name, parquet=folder / shard.parquet_name, tar=tar)


def _build_part(job: tuple[ingest.ShardFiles, dict, str, bool]) -> dict:
    """One shard's part, in a worker process (no database access here)."""
    files, columns, parts, hash_images = job
    if not files.parquet.is_file():
        raise TakedownError(f"{files.parquet}: shard file is gone")
    digest = ingest.file_sha256(files.parquet)
    meta = ingest.build_part(files, ingest.ColumnMap(columns), Path(parts), source_sha256=digest,
                             hash_images=hash_images)
    storage.push_part(Path(parts).parent, files.name)  # for a finalize on another machine (no-op if none set)
    return meta


def _part_job(shard: Shard) -> tuple:
    release = shard.release
    columns = {name: release.column_map.get(name) for name in ingest.FIELDS}
    return _shard_files(shard), columns, str(release.index_path / "parts"), release.hash_images


def _record_parts(done: list[tuple[Shard, dict]]) -> None:
    now = timezone.now()
    for shard, meta in done:
        shard.parquet_sha256, shard.row_count = meta["source_sha256"], meta["rows"]
        shard.sample_count, shard.image_count = meta["samples"], meta["images"]
        shard.problems, shard.indexed_at = meta["problems"][:100], now
    Shard.objects.bulk_update([shard for shard, _ in done], [
        "parquet_sha256", "row_count", "sample_count", "image_count", "problems", "indexed_at"])


def shard_index(*, shard: Shard) -> dict:
    """Index one shard (its part); done again, it reuses the part already built from the same file.

    The last shard of a release to be indexed records release.indexed, on which
    a worker finalizes the release.
    """
    meta = _build_part(_part_job(shard))
    faults.point("datasets.shard.part_built")
    with transaction.atomic():
        _record_parts([(shard, meta)])
        if not Shard.objects.filter(release_id=shard.release_id, indexed_at__isnull=True).exists():
            event_record(RELEASE_INDEXED, key=str(shard.release_id), release=shard.release_id)
    faults.point("datasets.shard.recorded")
    return meta


def release_index_in_background(*, release: Release) -> int:
    """Queue every shard of a registered release not yet indexed, for the workers (shard.queued, one each);
    returns how many. Run again for a release whose import was cut short, it queues only what is left, and
    a release whose shards are all indexed is finalized."""
    pending = list(release.shards.filter(indexed_at__isnull=True).order_by("pk").values_list("pk", flat=True))
    # What gave up for good before (a database outage outlasting its retries) is tried again.
    dead = [run.pk for run in runs_for_objects(key="release", ids=[release.pk]) if run.status == run.Status.DEAD]
    if dead:
        runs_retry(run_ids=dead, actor=Actor.system())
    with transaction.atomic():
        if pending:
            events_record(SHARD_QUEUED, [{"shard": pk, "release": release.pk} for pk in pending],
                          keys=[str(pk) for pk in pending])
        elif release.status == Release.Status.INDEXING:
            event_record(RELEASE_INDEXED, key=str(release.pk), release=release.pk)
    return len(pending)


def release_index_parts(*, release: Release, progress: TextIO | None = None) -> None:
    """Index every shard not yet indexed, one process per core (in the caller's process when it is a daemon)."""
    pending = list(release.shards.filter(indexed_at__isnull=True).select_related("release__dataset"))
    bar = tqdm(total=len(pending), unit="shards", desc=str(release), file=progress, disable=progress is None,
               dynamic_ncols=True)
    jobs = [_part_job(shard) for shard in pending]
    workers = min(len(jobs), os.cpu_count() or 1)
    done: list[tuple[Shard, dict]] = []

    def record(shard: Shard, meta: dict, every: int = 50) -> None:
        # In batches: a row update per shard would keep a core busy at thousands of shards.
        done.append((shard, meta))
        bar.update(1)
        if len(done) >= every:
            _record_parts(done)
            done.clear()

    if workers <= 1 or multiprocessing.current_process().daemon:
        for shard, job in zip(pending, jobs):
            record(shard, _build_part(job), every=1)
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
            for shard, meta in zip(pending, pool.map(_build_part, jobs, chunksize=4)):
                record(shard, meta)
    if done:
        _record_parts(done)
    bar.close()


def release_finalize(*, release: Release, actor: Actor | None = None) -> Release:
    """Build the release's index segments from its parts and make it ready (release.ready); a bad release is
    marked failed. One process at a time per release; a finalize cut short resumes where it stopped."""
    with held(f"release-finalize:{release.pk}"):
        release = Release.objects.select_related("dataset").get(pk=release.pk)
        if release.status != Release.Status.INDEXING:
            return release  # finalized meanwhile by another process
        return _finalize(release, actor)


def _finalize(release: Release, actor: Actor | None) -> Release:
    shards = list(release.shards.order_by("name"))
    root = release.index_path
    try:
        segments, meta = _build_segments(root, shards)
    except TakedownError as exc:
        Release.objects.filter(pk=release.pk).update(status=Release.Status.FAILED, error=exc.message)
        raise
    index.publish(root, segments, meta)
    storage.push_index(root)  # segment files, then index.json: the remote commit point
    faults.point("datasets.finalize.index_published")
    with transaction.atomic():
        release.status = Release.Status.READY
        release.row_count = sum(s.row_count for s in shards)
        release.sample_count = sum(s.sample_count for s in shards)
        release.image_count = sum(s.image_count for s in shards)
        release.content_sha256 = _content_digest(shards, release.column_map)
        release.indexed_at = timezone.now()
        release.error = ""
        release.save()
        audit_record(actor=actor or Actor.system(), action="release.imported", obj=release, after={
            "shards": len(shards), "rows": release.row_count, "samples": release.sample_count,
            "images": release.image_count, "segments": len(segments),
        })
        event_record(RELEASE_READY, key=str(release.pk), release=release.pk, dataset=release.dataset.name,
                     release_name=release.name, shards=len(shards), samples=release.sample_count)
    faults.point("datasets.finalize.ready")
    return release


def _build_segments(root: Path, shards: list[Shard]) -> tuple[list[str], dict]:
    storage.pull_parts(root, [s.name for s in shards])  # parts built by workers on other machines
    groups: list[list[Shard]] = [[]]
    for shard in shards:
        if groups[-1] and sum(s.sample_count for s in groups[-1]) + shard.sample_count > settings.INDEX_SEGMENT_ROWS:
            groups.append([])
        groups[-1].append(shard)
    names = []
    for number, group in enumerate(groups):
        name = f"seg-{number:04d}"
        parts = [s.name for s in group]
        # A finalize cut short by a dead worker resumes: a segment it finished is kept.
        if index.segment_parts(root, name) != parts:
            index.build_segment(root, name, parts)
            _refuse_duplicate_keys(root, name)
            faults.point("datasets.finalize.segment_built")
        names.append(name)
    index.remove_leftovers(root)
    return names, {"shards": len(shards), "samples": sum(s.sample_count for s in shards)}


def _refuse_duplicate_keys(root: Path, name: str) -> None:
    folder = root / name
    if not (folder / "key_offsets.npy").exists():
        return
    first, second = kernels.first_duplicate(np.load(folder / "key_offsets.npy"), np.load(folder / "key_fps.npy"))
    if first < 0:
        return
    rows = np.load(folder / "key_rows.npy")[[int(first), int(second)]]
    segment = index.Segment(root, name)
    values = segment.rows(rows, ["key", "row"])
    if values["key"][0] == values["key"][1]:
        where = [f"{shard}.parquet row {row}" for shard, row in zip(values["shard"], values["row"])]
        raise TakedownError(f"{where[1]}: key {values['key'][1]!r} already appears at {where[0]}; "
                            "keys must be unique within a release")


def release_import(*, dataset: str, release: str, path: Path, columns: dict[str, str] | None = None,
                   derived_from: str | None = None, hash_images: bool = True, progress: TextIO | None = None,
                   actor: Actor | None = None) -> ImportResult:
    """Register a release and index it in this process, every core at work; resumes an interrupted import.

    Reads a folder of img2dataset shards (NNNNN.parquet, optional NNNNN.tar) or
    plain parquet files. Images in the tars are hashed (md5, sha256, and PDQ
    when the metadata has no pdq column) unless `hash_images` is false.
    """
    rel, created = release_register(dataset=dataset, release=release, path=path, columns=columns,
                                    derived_from=derived_from, hash_images=hash_images, actor=actor)
    if rel.status == Release.Status.READY:
        return ImportResult(release=rel, created=False, rows=rel.row_count, samples=rel.sample_count,
                            images=rel.image_count)
    started = time.monotonic()
    try:
        release_index_parts(release=rel, progress=progress)
    except TakedownError as exc:
        Release.objects.filter(pk=rel.pk).update(status=Release.Status.FAILED, error=exc.message)
        raise
    indexed = time.monotonic()
    rel = release_finalize(release=rel, actor=actor)
    shards = list(rel.shards.all())
    return ImportResult(
        release=rel, created=True, rows=rel.row_count, samples=rel.sample_count, images=rel.image_count,
        problems=[p for s in shards for p in s.problems], shard_seconds=indexed - started,
        index_seconds=time.monotonic() - indexed,
    )


def dataset_save(*, name: str, title: str, actor: Actor, dataset: Dataset | None = None) -> Dataset:
    """Register a dataset before its first release (so mirrors can subscribe), or change its title; audited."""
    title = title.strip()
    with transaction.atomic():
        if dataset is None:
            _validate_names(name, "r")
            if Dataset.objects.filter(name=name).exists():
                raise TakedownError(f"a dataset named {name!r} already exists")
            dataset = Dataset.objects.create(name=name, title=title)
            audit_record(actor=actor, action="dataset.registered", obj=dataset, after={"title": title})
            return dataset
        dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
        if dataset.title != title:
            audit_record(actor=actor, action="dataset.changed", obj=dataset, before={"title": dataset.title},
                         after={"title": title})
            dataset.title = title
            dataset.save(update_fields=["title"])
    return dataset
