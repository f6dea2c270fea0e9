"""Release indexes on object storage (S3-compatible, through fsspec) as well as on local disk.

Local disk stays the working copy: ingest and finalize write there, and matching
memory-maps files there, which object storage cannot offer. With
INDEX_STORAGE_URL set (e.g. s3://bucket/prefix), every finished index file is
also pushed to <INDEX_STORAGE_URL>/<dataset>/<release>/<the same relative path>,
so that a worker on another machine can finalize from parts it did not build,
and a web process on another machine can pull an index it never built.

The remote copy keeps the local folder's commit points (apps.index.index):
a part's .json is pushed after its .arrow, and index.json after every segment
file, so whoever sees a marker on the remote finds everything it vouches for.
An object store writes each object whole, so the remote never holds a half
file; locally, every download goes to a temporary name and is renamed.

With no INDEX_STORAGE_URL every function here returns at once, and fsspec (and
s3fs) are not even imported.
"""
import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.conf import settings

from apps.core.errors import TakedownError
from apps.core.files import replacing, write_atomic

# Object stores answer each request slowly but many at once: files whose order does not
# matter (a segment's files, many parts) are moved this many at a time.
_THREADS = 8


def remote_prefix(local_root: Path) -> str | None:
    """The release's folder on the object store, <INDEX_STORAGE_URL>/<dataset>/<release>; None with none set.

    `local_root` is the release's local index folder, INDEX_DIR/<dataset>/<release>
    (Release.index_path): its last two names are the dataset and the release, so
    a worker process without database access can find the prefix too.
    """
    if not settings.INDEX_STORAGE_URL:
        return None
    return f"{settings.INDEX_STORAGE_URL}/{local_root.parent.name}/{local_root.name}"


def _remote(local_root: Path):
    """(filesystem, path of the release's folder on it), or None when no object store is configured."""
    url = remote_prefix(Path(local_root))
    if url is None:
        return None
    import fsspec  # only a deployment with an object store needs it (and s3fs for s3://)

    # fsspec keeps one filesystem per URL protocol and options, so this is cheap after the first call.
    fs, path = fsspec.url_to_fs(url, **settings.INDEX_STORAGE_OPTIONS)
    return fs, path.rstrip("/")


def push(local_root: Path, relative_paths: Iterable[str]) -> None:
    """Upload these files of a release's index, one after the other in the order given.

    The order is the point: a file that marks others complete (a part's .json,
    index.json) goes after them, in the same call or a later one.
    """
    remote = _remote(local_root)
    if remote is None:
        return
    fs, prefix = remote
    for relative in relative_paths:
        fs.put_file(str(Path(local_root) / relative), f"{prefix}/{relative}")


def pull(local_root: Path, relative_paths: Iterable[str]) -> None:
    """Download these files of a release's index, in the order given, replacing local copies.

    Each goes to a temporary name beside its place and is renamed when whole,
    so a reader never memory-maps half a file and a failed download leaves
    nothing behind.
    """
    remote = _remote(local_root)
    if remote is None:
        return
    fs, prefix = remote
    for relative in relative_paths:
        _fetch(fs, f"{prefix}/{relative}", Path(local_root) / relative)


def _fetch(fs, remote: str, local: Path) -> None:
    local.parent.mkdir(parents=True, exist_ok=True)
    with replacing(local) as temp:
        fs.get_file(remote, str(temp))


def _in_parallel(function: Callable[[str], None], items: list[str]) -> None:
    if not items:
        return
    with ThreadPoolExecutor(min(_THREADS, len(items))) as pool:
        list(pool.map(function, items))  # list(): the first error is raised here


def _part_files(shard: str) -> list[str]:
    return [f"parts/{shard}.arrow", f"parts/{shard}.json"]  # the .json marks the part complete: last


# ---------------------------------------------------------------- the steps of an index's life


def push_part(local_root: Path, shard: str) -> None:
    """Upload a shard's finished part (its .json last), for a finalize on another machine."""
    push(local_root, _part_files(shard))


def pull_parts(local_root: Path, shards: list[str]) -> None:
    """Download the parts of these shards that this machine lacks (built by workers elsewhere)."""
    if remote_prefix(Path(local_root)) is None:
        return
    parts = Path(local_root) / "parts"
    missing = [s for s in shards if not all((parts / name).is_file() for name in (f"{s}.arrow", f"{s}.json"))]

    def one(shard: str) -> None:
        try:
            pull(local_root, _part_files(shard))
        except FileNotFoundError:
            raise TakedownError(f"shard {shard}: its part is neither in {parts} nor in "
                                f"{remote_prefix(Path(local_root))}/parts; import the release again") from None

    _in_parallel(one, missing)


def push_index(local_root: Path) -> None:
    """Upload the segments of a published index, then index.json: the remote commit point goes last."""
    if remote_prefix(Path(local_root)) is None:
        return
    root = Path(local_root)
    segments = json.loads((root / "index.json").read_text())["segments"]
    files = [str(path.relative_to(root)) for name in segments for path in sorted((root / name).rglob("*"))
             if path.is_file() and not path.name.startswith(".")]  # not a download in progress
    _in_parallel(lambda relative: push(root, [relative]), files)
    push(root, ["index.json"])


def pull_index(local_root: Path) -> bool:
    """Download a release's index from the object store; False when it holds none (or none is configured).

    Fetches index.json, every file of its segments and the parts each segment's
    meta.json lists, except files already here with the same size (a pull that
    was interrupted resumes). index.json is written last, from the very copy
    whose segments were fetched: until then the local index does not exist.
    """
    remote = _remote(local_root)
    if remote is None:
        return False
    fs, prefix = remote
    root = Path(local_root)
    fs.invalidate_cache(prefix)  # another machine may have published since this process last looked
    try:
        body = fs.cat_file(f"{prefix}/index.json")
    except FileNotFoundError:
        return False
    # One listing gives every remote file's size, instead of a request per file.
    sizes = {path[len(prefix) + 1:]: info["size"] for path, info in fs.find(prefix, detail=True).items()
             if path.startswith(prefix + "/")}

    def fetch_if_changed(relative: str) -> None:
        if relative not in sizes:
            raise TakedownError(f"{prefix}/{relative}: missing from the index storage; import the release again")
        local = root / relative
        if not (local.is_file() and local.stat().st_size == sizes[relative]):
            _fetch(fs, f"{prefix}/{relative}", local)

    segments = json.loads(body)["segments"]
    for segment in segments:
        if f"{segment}/meta.json" not in sizes:
            raise TakedownError(f"{prefix}/{segment}: missing from the index storage; import the release again")
    _in_parallel(fetch_if_changed, [name for name in sizes for segment in segments
                                    if name.startswith(f"{segment}/")])
    parts = [name for segment in segments
             for part in json.loads((root / segment / "meta.json").read_text())["parts"]
             for name in _part_files(part)]
    _in_parallel(fetch_if_changed, parts)
    write_atomic(root / "index.json", body)
    return True
