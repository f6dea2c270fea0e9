"""Registering releases: reading their shards and indexing every sample's identifiers."""
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from django.db import transaction
from tqdm import tqdm

from apps.audit.services import audit_record
from apps.core import identifiers
from apps.core.actors import Actor
from apps.core.errors import TakedownError
from apps.datasets import ingest
from apps.datasets.models import Dataset, Release, Sample, Shard

_RELEASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_DATASET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
_INSERT_BATCH = 5000


@dataclass
class ImportResult:
    release: Release
    created: bool
    rows: int = 0
    samples: int = 0
    pdq_computed: int = 0
    problems: list[str] = field(default_factory=list)


def _validate_names(dataset: str, release: str) -> None:
    if not _DATASET_NAME.match(dataset):
        raise TakedownError(
            f"dataset name {dataset!r} must be lower-case letters, digits, '-' or '_' (at most 100)"
        )
    if not _RELEASE_NAME.match(release):
        raise TakedownError(f"release name {release!r} must be letters, digits, '.', '-' or '_' (at most 100)")


def _content_digest(shards: list[ingest.ShardFiles], digests: dict[str, str], columns: dict) -> str:
    listing = [
        [s.name, digests[s.name], s.tar.name if s.tar else "", s.tar.stat().st_size if s.tar else 0]
        for s in shards
    ]
    body = json.dumps({"shards": listing, "columns": columns}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def release_import(*, dataset: str, release: str, path: Path, columns: dict[str, str] | None = None,
                   compute_pdq: bool = True, progress: TextIO | None = None,
                   actor: Actor | None = None) -> ImportResult:
    """Register a release from a folder of img2dataset shards or plain parquet files.

    Every sample's key, URL and hash columns are indexed; PDQ is computed from
    the images in the tars when the metadata has no pdq column. The release is
    written in one transaction: it appears whole or not at all. Importing the
    same files again changes nothing; other files under an existing release
    name are refused, as releases are immutable. With `progress`, progress
    bars are drawn on that stream.
    """
    actor = actor or Actor.system()
    _validate_names(dataset, release)
    path = Path(path).expanduser().resolve()
    shards = ingest.discover_shards(path)
    schema = ingest.read_schema(shards[0].parquet)
    column_map = ingest.resolve_columns(schema, columns or {}, shards[0].parquet)
    for shard in shards[1:]:
        ingest.resolve_columns(ingest.read_schema(shard.parquet), column_map.as_dict(), shard.parquet)
    digests = {s.name: s.digest() for s in shards}
    content = _content_digest(shards, digests, column_map.as_dict())

    existing = Release.objects.filter(dataset__name=dataset, name=release).first()
    if existing is not None:
        if existing.content_sha256 == content:
            return ImportResult(release=existing, created=False, samples=existing.sample_count)
        changed = [
            s.name for s in shards
            if not existing.shards.filter(name=s.name, parquet_sha256=digests[s.name]).exists()
        ]
        detail = f" (shards that differ: {', '.join(changed[:10])})" if changed else ""
        raise TakedownError(
            f"{dataset}/{release} is already imported from other files{detail}; "
            "releases are immutable, so import these files under a new release name"
        )

    want_pdq = compute_pdq and column_map.get("pdq") is None and any(s.tar for s in shards)
    result = ImportResult(release=None, created=True)  # type: ignore[arg-type]
    total_rows = sum(ingest.row_count(s.parquet) for s in shards)
    bar = tqdm(total=total_rows, unit="rows", desc=f"{dataset}/{release}", file=progress,
               disable=progress is None, dynamic_ncols=True)

    with transaction.atomic():
        ds, _ = Dataset.objects.get_or_create(name=dataset)
        rel = Release.objects.create(
            dataset=ds, name=release, source_path=str(path), column_map=column_map.as_dict(),
            content_sha256=content, pdq_computed=want_pdq,
        )
        result.release = rel
        seen_keys: dict[str, str] = {}
        for shard in shards:
            shard_obj = Shard.objects.create(
                release=rel, name=shard.name, parquet_name=shard.parquet.name,
                parquet_sha256=digests[shard.name], tar_name=shard.tar.name if shard.tar else "",
            )
            result.samples += _import_shard(shard, shard_obj, column_map, seen_keys, bar, result)
        bar.close()
        if want_pdq:
            result.pdq_computed = _import_pdq(rel, shards, column_map, progress, result)
        rel.sample_count = result.samples
        rel.shard_count = len(shards)
        rel.save(update_fields=["sample_count", "shard_count"])
        audit_record(actor=actor, action="release.imported", obj=rel, after={
            "path": str(path), "shards": len(shards), "rows": result.rows, "samples": result.samples,
            "columns": column_map.as_dict(), "pdq_computed": result.pdq_computed,
        })
    return result


def _import_shard(shard: ingest.ShardFiles, shard_obj: Shard, columns: ingest.ColumnMap,
                  seen_keys: dict[str, str], bar: tqdm, result: ImportResult) -> int:
    batch: list[Sample] = []
    rows = samples = 0
    for number, row in ingest.iter_rows(shard, columns):
        rows += 1
        bar.update(1)
        if row is None:
            continue
        where = f"{shard.parquet.name} row {number}"
        if row.key in seen_keys:
            raise TakedownError(f"{where}: key {row.key!r} already appears at {seen_keys[row.key]}; "
                                "keys must be unique within a release")
        seen_keys[row.key] = where
        url = identifiers.normalise_url(row.url) if row.url else ""
        batch.append(Sample(
            release=shard_obj.release, shard=shard_obj, key=row.key, url=row.url,
            url_fp=identifiers.url_fingerprint(url) if url else None,
            md5=row.md5, sha1=row.sha1, sha256=row.sha256, pdq=row.pdq,
        ))
        samples += 1
        if len(batch) >= _INSERT_BATCH:
            Sample.objects.bulk_create(batch)
            batch.clear()
    if batch:
        Sample.objects.bulk_create(batch)
    shard_obj.row_count = rows
    shard_obj.sample_count = samples
    shard_obj.save(update_fields=["row_count", "sample_count"])
    result.rows += rows
    return samples


def _import_pdq(release: Release, shards: list[ingest.ShardFiles], columns: ingest.ColumnMap,
                progress: TextIO | None, result: ImportResult) -> int:
    shard_ids = dict(release.shards.values_list("name", "id"))
    computed = 0
    bar = tqdm(total=sum(1 for s in shards if s.tar), unit="tars", desc="PDQ from images", file=progress,
               disable=progress is None, dynamic_ncols=True)
    for shard, hashes, problems in ingest.tars_pdq(shards, columns):
        result.problems.extend(problems)
        samples = {s.key: s for s in Sample.objects.filter(shard_id=shard_ids[shard.name]).only("id", "key")}
        for key, (value, quality) in hashes.items():
            sample = samples.get(key)
            if sample is None:
                result.problems.append(f"{shard.tar.name}: image {key} has no successful row in the parquet")
                continue
            sample.pdq, sample.pdq_quality = value, quality
        hashed = [s for s in samples.values() if s.pdq]
        Sample.objects.bulk_update(hashed, ["pdq", "pdq_quality"], batch_size=_INSERT_BATCH)
        computed += len(hashed)
        bar.update(1)
    bar.close()
    return computed
