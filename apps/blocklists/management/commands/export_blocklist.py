from pathlib import Path

from apps.blocklists.selectors import blocklist_version_get
from apps.blocklists.services import blocklist_export
from apps.core.commands import TakedownCommand
from apps.datasets.selectors import release_get


class Command(TakedownCommand):
    help = "Write a published blocklist version (manifest.json, its signature, per-shard parquet files) to a folder."

    def add_base_argument(self, parser, *args, **kwargs):
        # --version here means the blocklist version, not Django's.
        if "--version" not in args:
            super().add_base_argument(parser, *args, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("dataset")
        parser.add_argument("release")
        parser.add_argument("--out", required=True, help="folder to create (must be absent or empty)")
        parser.add_argument("--version", type=int, default=None, help="version number (default: the latest)")

    def handle(self, *args, dataset, release, out, version, **options):
        rel = release_get(dataset=dataset, release=release)
        found = blocklist_version_get(release=rel, version=version)
        files = blocklist_export(version=found, out_dir=Path(out))
        self.stdout.write(f"Wrote {found} ({found.key_count} keys in {found.shard_count} shards): "
                          f"{len(files)} files in {Path(out).resolve()}")
