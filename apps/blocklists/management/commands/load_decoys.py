from pathlib import Path

from apps.blocklists.services import decoys_load, parse_decoys_csv
from apps.core.actors import Actor
from apps.core.commands import TakedownCommand
from apps.core.errors import TakedownError
from apps.datasets.selectors import release_get


class Command(TakedownCommand):
    help = ("Add benign sample keys (a CSV with a `key` column) to a release's decoy pool, which pads "
            "blocklist versions that add csam or ncii keys. Drop these samples from your own copy too.")

    def add_arguments(self, parser):
        parser.add_argument("dataset")
        parser.add_argument("release")
        parser.add_argument("file", help="CSV with a header naming the column key (other columns are ignored)")
        parser.add_argument("--ratio", default=None,
                            help="padding ratio to set: decoys per sensitive key added, 0 to 100 (e.g. 3)")

    def handle(self, *args, dataset, release, file, ratio, **options):
        rel = release_get(dataset=dataset, release=release)
        path = Path(file)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise TakedownError(f"{path}: cannot read ({exc.strerror})") from None
        keys = parse_decoys_csv(data, source_name=path.name)
        loaded = decoys_load(release=rel, keys=keys, actor=Actor.operator(), source_name=path.name,
                             padding_ratio=ratio)
        pool = loaded.pool
        self.stdout.write(f"{rel}: {loaded.added} decoys added, {loaded.already} already in the pool; "
                          f"{pool.keys.count()} in the pool, {pool.keys.filter(drawn_in=None).count()} not yet "
                          f"drawn; padding ratio {pool.padding_ratio}")
        if not pool.padding_ratio:
            self.stdout.write("Padding is off until the ratio is set (--ratio, or the admin's decoy pool page).")
