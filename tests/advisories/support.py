"""Helpers shared by the advisory tests: keys files, scoped removals, a second release."""
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from apps.core.identifiers import ParsedIdentifier
from apps.datasets.services import release_import
from apps.removals.services import request_approve, request_create
from tests.support.removals import publish, ready


def keys_parquet(path: Path, keys, column: str = "key") -> Path:
    pq.write_table(pa.table({column: pa.array(list(keys), pa.string())}), path)
    return path


def keys_text(path: Path, keys) -> Path:
    path.write_text("".join(f"{key}\n" for key in keys))
    return path


def remove(operator, release, keys, category: str = "copyright"):
    """A request naming these keys in `release` only, approved, and what it sets off run here; returns it."""
    request = request_create(category=category, actor=operator, dataset=release.dataset, release=release,
                             identifiers=[ParsedIdentifier(line=i, kind="key", value=k) for i, k in enumerate(keys, 2)])
    request_approve(request=request, actor=operator)
    publish(request)
    request.refresh_from_db()
    return request


def other_release(release_on_disk, operator, name: str = "2026-12"):
    """The same shards imported as another release of the dataset (same keys: removals scoped to one release
    leave it alone)."""
    imported = release_import(dataset="demo", release=name, path=release_on_disk.path, actor=operator).release
    ready(imported)
    return imported
