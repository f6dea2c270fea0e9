"""64-bit fingerprints of identifiers: what the index sorts and searches.

Strings (normalised URLs, keys, host names) are fingerprinted with DuckDB's
hash(), which runs vectorised at ingest over millions of rows a second and is
called the same way at query time. DuckDB does not promise that function
across versions, so every index records a canary and refuses to open under a
DuckDB that hashes differently (rebuild the index then). Digests (md5, sha1,
sha256, pdq) are already uniform: their first eight bytes are the fingerprint.
"""
import threading

import duckdb
import numpy as np

CANARY_INPUT = "takedown-fingerprint-canary"
_local = threading.local()


def _connection() -> duckdb.DuckDBPyConnection:
    # One connection per thread: DuckDB connections are not shared across threads.
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb.connect(":memory:", config={"threads": 1})
    return con


def strings(values: list[str]) -> np.ndarray:
    """uint64 fingerprints of strings, as the index computes them at ingest."""
    if not values:
        return np.zeros(0, dtype=np.uint64)
    [(result,)] = _connection().execute("SELECT list_transform($1::VARCHAR[], lambda x: hash(x))", [values]).fetchall()
    return np.asarray(result, dtype=np.uint64)


def canary() -> int:
    """The fingerprint of a fixed string: equal at build and query time, or the index is stale."""
    return int(strings([CANARY_INPUT])[0])


def digests(values: list[bytes]) -> np.ndarray:
    """uint64 fingerprints of binary digests: their first eight bytes, big-endian."""
    if not values:
        return np.zeros(0, dtype=np.uint64)
    return np.frombuffer(b"".join(v[:8] for v in values), dtype=">u8").astype(np.uint64)


def digest_column(codes: np.ndarray) -> np.ndarray:
    """Fingerprints of an (n, width) uint8 array of digests, vectorised."""
    return np.ascontiguousarray(codes[:, :8]).view(">u8").ravel().astype(np.uint64)
