from pathlib import Path

from apps.core.actors import Actor
from apps.core.commands import TakedownCommand
from apps.datasets.ingest import parse_column_options
from apps.datasets.services import release_import
from apps.removals.services import release_catch_up


class Command(TakedownCommand):
    help = (
        "Register a release from a folder of img2dataset output (NNNNN.parquet with optional NNNNN.tar) "
        "or plain parquet files, and index every sample's key, URL and hashes."
    )

    def add_arguments(self, parser):
        parser.add_argument("dataset", help="dataset name, for example laion2b-en")
        parser.add_argument("release", help="release name, for example 2024-08")
        parser.add_argument("path", help="folder of shards, or one parquet file")
        parser.add_argument("--column", action="append", default=[], metavar="FIELD=COLUMN",
                            help="map a field (key, url, caption, status, md5, sha1, sha256, pdq) to a column; "
                                 "repeatable, e.g. --column url=URL")
        parser.add_argument("--no-pdq", action="store_true", help="do not compute PDQ hashes from the images")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, dataset, release, path, column, no_pdq, no_progress, **options):
        actor = Actor.operator()
        result = release_import(
            dataset=dataset, release=release, path=Path(path), columns=parse_column_options(column),
            compute_pdq=not no_pdq, progress=None if no_progress else self.stderr._out, actor=actor,
        )
        rel = result.release
        if not result.created:
            self.stdout.write(f"{rel} is already imported from these files ({rel.sample_count} samples); "
                              "nothing changed")
            return
        self.stdout.write(
            f"Imported {rel}: {rel.shard_count} shards, {result.rows} rows, {result.samples} samples"
            + (f", PDQ computed for {result.pdq_computed} images" if rel.pdq_computed else "")
        )
        self.stdout.write("Columns: " + ", ".join(f"{k}={v}" for k, v in rel.column_map.items()))
        for problem in result.problems[:20]:
            self.stderr.write(f"warning: {problem}")
        if len(result.problems) > 20:
            self.stderr.write(f"warning: ... and {len(result.problems) - 20} more")
        version = release_catch_up(release=rel, actor=actor)
        if version is not None:
            self.stdout.write(f"Approved removals already hit this release: published {version} "
                              f"({version.key_count} keys)")
