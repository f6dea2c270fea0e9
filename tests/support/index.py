"""Reading a release's index back in tests."""
import numpy as np

from apps.index.index import open_index

COLUMNS = ["row", "key", "url", "md5", "sha1", "sha256", "img_md5", "img_sha256", "pdq", "pdq_quality"]


def index_rows(release) -> dict[str, dict]:
    """Every indexed sample of a release by key, digests as hex."""
    rows = {}
    for segment in open_index(release.index_path).segments:
        values = segment.rows(np.arange(segment.meta["rows"]), COLUMNS)
        for i, key in enumerate(values["key"]):
            rows[key] = {name: (v.hex() if isinstance(v, bytes) else v)
                         for name, v in ((n, values[n][i]) for n in (*COLUMNS, "shard"))}
    return rows
