import time
from pathlib import Path

from apps.core.actors import Actor
from apps.core.commands import TakedownCommand
from apps.datasets.events import RELEASE_READY
from apps.datasets.ingest import parse_column_options
from apps.datasets.models import Release
from apps.datasets.services import release_import, release_index_in_background, release_register
from apps.events.models import Event
from apps.events.services import events_drain


class Command(TakedownCommand):
    help = (
        "Register a release from a folder of img2dataset output (NNNNN.parquet with optional NNNNN.tar) "
        "or plain parquet files, and index every sample's key, URL, hashes and image hashes."
    )

    def add_arguments(self, parser):
        parser.add_argument("dataset", help="dataset name, for example laion2b-en")
        parser.add_argument("release", help="release name, for example 2024-08")
        parser.add_argument("path", help="folder of shards, or one parquet file")
        parser.add_argument("--column", action="append", default=[], metavar="FIELD=COLUMN",
                            help="map a field (key, url, caption, status, md5, sha1, sha256, pdq) to a column; "
                                 "repeatable, e.g. --column url=URL")
        parser.add_argument("--derived-from", metavar="RELEASE",
                            help="the release of the same dataset this one was made from (subset, re-download, "
                                 "reshard): removals flow between them by URL and hashes, not by key")
        parser.add_argument("--no-pdq", "--no-image-hashes", dest="no_images", action="store_true",
                            help="do not hash the images in the tars (md5, sha256, PDQ)")
        parser.add_argument("--background", action="store_true",
                            help="queue the work for the Celery workers (one task per shard) and return")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, dataset, release, path, column, derived_from, no_images, background, no_progress,
               **options):
        actor = Actor.operator()
        columns = parse_column_options(column)
        if background:
            rel, created = release_register(dataset=dataset, release=release, path=Path(path), columns=columns,
                                            derived_from=derived_from, hash_images=not no_images, actor=actor)
            if rel.status == Release.Status.READY:
                self.stdout.write(f"{rel} is already imported from these files; nothing changed")
                return
            queued = release_index_in_background(release=rel)
            self.stdout.write(f"Queued {queued} shards of {rel} for the workers; the admin shows its status "
                              "(Datasets > Releases, and Background work)")
            return
        started = time.monotonic()
        result = release_import(
            dataset=dataset, release=release, path=Path(path), columns=columns, derived_from=derived_from,
            hash_images=not no_images, progress=None if no_progress else self.stderr._out, actor=actor,
        )
        rel = result.release
        if not result.created:
            self.stdout.write(f"{rel} is already imported from these files ({rel.sample_count} samples); "
                              "nothing changed")
            return
        seconds = time.monotonic() - started
        self.stdout.write(
            f"Imported {rel}: {rel.shard_count} shards, {result.rows} rows, {result.samples} samples "
            f"in {seconds:.1f} s ({result.rows / max(seconds, 1e-9):,.0f} rows/s)"
        )
        self.stdout.write(f"Shards read in {result.shard_seconds:.1f} s, index built in {result.index_seconds:.1f} s")
        if result.images:
            self.stdout.write(f"Hashed {result.images} images (md5, sha256, PDQ) "
                              f"at {result.images / max(seconds, 1e-9):,.0f} images/s on every core")
        self.stdout.write("Columns: " + ", ".join(f"{k}={v}" for k, v in rel.column_map.items()))
        for problem in result.problems[:20]:
            self.stderr.write(f"warning: {problem}")
        if len(result.problems) > 20:
            self.stderr.write(f"warning: ... and {len(result.problems) - 20} more")
        # Approved removals reach the new release before anyone else uses it: run what release.ready sets off.
        drained = events_drain(list(Event.objects.filter(name=RELEASE_READY, key=str(rel.pk))))
        for published in drained.of("blocklist.published"):
            info = published.payload
            self.stdout.write(f"Approved removals already hit this release: published {info['dataset']}/"
                              f"{info['release_name']} v{info['number']} ({info['keys']} keys)")
        for run in drained.unfinished:
            self.stderr.write(f"warning: {run.handler} did not finish here ({run.last_error or run.status}); "
                              "a worker retries it")
