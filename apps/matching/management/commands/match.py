from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from apps.core import pdq
from apps.core.commands import TakedownCommand
from apps.core.errors import TakedownError
from apps.core.identifiers import read_identifiers_file
from apps.datasets.selectors import release_get
from apps.matching.selectors import Query, hits_for, release_not_ready_message, unmatched_explain

_SCHEMA = pa.schema([
    ("shard", pa.string()), ("key", pa.string()), ("kind", pa.string()), ("value", pa.string()),
    ("distance", pa.int16()), ("expanded", pa.bool_()), ("line", pa.int32()),
])


class Command(TakedownCommand):
    help = ("Preview which samples of a release a removal file would hit, without creating a request; a release "
            "that is not ready (still indexing, or failed) is refused.")

    def add_arguments(self, parser):
        parser.add_argument("dataset")
        parser.add_argument("release")
        parser.add_argument("file", help="CSV file with header kind,value")
        parser.add_argument("--out", required=True, help="parquet file to write the matches to")
        parser.add_argument("--threshold", type=int, default=None,
                            help="PDQ Hamming distance threshold (default: the PDQ_MATCH_THRESHOLD setting, 31)")
        parser.add_argument("--expand", action="store_true",
                            help="also list samples with the same image hash as a URL or key hit")

    def handle(self, *args, dataset, release, file, out, threshold, expand, **options):
        if threshold is not None:
            pdq.check_threshold(threshold, where="--threshold")
        rel = release_get(dataset=dataset, release=release)
        problem = release_not_ready_message(release=rel)
        if problem:
            # Its index is not built: every identifier would seem to match nothing, a false all-clear.
            raise TakedownError(problem)
        parsed = read_identifiers_file(file)
        queries = [Query(ref=i, kind=p.kind, value=p.value) for i, p in enumerate(parsed)]
        hits = hits_for(queries, releases=[rel], threshold=threshold, expand=expand)
        hits.sort(key=lambda h: (h.shard, h.key, h.ref))
        table = pa.table({
            "shard": [h.shard for h in hits],
            "key": [h.key for h in hits],
            "kind": [parsed[h.ref].kind for h in hits],
            "value": [parsed[h.ref].value for h in hits],
            "distance": [h.distance for h in hits],
            "expanded": [h.expanded for h in hits],
            "line": [parsed[h.ref].line for h in hits],
        }, schema=_SCHEMA)
        out_path = Path(out)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = out_path.with_name(f".{out_path.name}.partial")
        pq.write_table(table, tmp)
        tmp.replace(out_path)
        hit_refs = {h.ref for h in hits}
        missed = unmatched_explain([q for q in queries if q.ref not in hit_refs], releases=[rel],
                                   threshold=threshold, expand=expand)
        samples = len({(h.shard, h.key) for h in hits})
        self.stdout.write(
            f"{len(parsed)} identifiers: {len(hits)} matches in {samples} samples of {rel}; written to {out_path}"
        )
        listed = [i for i in sorted(missed) if missed[i].allowed or missed[i].entry is not None]
        if listed:
            self.stdout.write(f"{len(listed)} identifier(s) are allow-listed (known false positives), not unmatched:")
            for i in listed:
                self.stdout.write(f"  line {parsed[i].line}: {parsed[i].kind} {parsed[i].value}: {missed[i]}")
        unmatched = [i for i in sorted(missed) if i not in listed]
        if unmatched:
            self.stdout.write(f"{len(unmatched)} identifier(s) match nothing:")
            for i in unmatched:
                why = str(missed[i])
                self.stdout.write(f"  line {parsed[i].line}: {parsed[i].kind} {parsed[i].value}"
                                  + (f" ({why})" if why else ""))
