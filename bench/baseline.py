"""The ad-hoc matcher a host runs today: DuckDB over the shards, numpy brute force for PDQ.

No index and no database: every run scans every shard. Exact kinds (url, key,
md5, sha1, sha256) are joins in DuckDB against the removal file's values,
normalised the way the product normalises them; PDQ hashes are compared with
every successful row's pdq by XOR and popcount, Hamming distance <= 31 being
a match. This is what the product's `match` preview has to beat, and must
agree with.

Usage: python bench/baseline.py RELEASE_DIR REMOVALS.csv --out matches.parquet
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from apps.core.identifiers import normalise, parse_kind  # noqa: E402 - plain module, no Django

PDQ_THRESHOLD = 31  # Meta's confident-match distance, the product's default
# How each exact kind reads from a shard row `s`; the column is named after the kind.
EXACT_COLUMNS = {"url": "s.url", "key": "CAST(s.key AS VARCHAR)", "md5": "lower(s.md5)", "sha1": "lower(s.sha1)",
                 "sha256": "lower(s.sha256)"}
SCAN_BATCH_ROWS = 1 << 20  # pdq hashes decoded at a time
BLOCK_ROWS = 8192  # corpus hashes compared with every query at once: bounds the (queries x block) temporaries
RESULT_SCHEMA = pa.schema([("shard", pa.string()), ("key", pa.string()), ("kind", pa.string()),
                           ("value", pa.string()), ("distance", pa.int16())])

_NIBBLE = np.zeros(256, dtype=np.uint8)
_NIBBLE[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)


def read_removals(removals_csv) -> list[tuple[str, str]]:
    """The (kind, normalised value) pairs of a kind,value CSV, each once, in file order."""
    with open(removals_csv, newline="", encoding="utf-8-sig") as handle:
        rows = [(parse_kind(row["kind"]), row["value"]) for row in csv.DictReader(handle)]
    return list(dict.fromkeys((kind, normalise(kind, value)) for kind, value in rows))


def baseline_match(release_dir, removals_csv) -> list[dict]:
    """Every (identifier, successful sample) match as dicts of shard, key, kind, value and distance.

    `shard` is the parquet file's stem, `value` the normalised identifier,
    `distance` the PDQ Hamming distance (0 for exact kinds); sorted.
    """
    identifiers = read_removals(removals_csv)
    glob = str(Path(release_dir).resolve() / "*.parquet")
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # it would interleave with the caller's output
    matches = _exact(con, glob, [(k, v) for k, v in identifiers if k != "pdq"])
    matches += _pdq(con, glob, [v for k, v in identifiers if k == "pdq"])
    matches.sort(key=lambda m: (m["shard"], m["key"], m["kind"], m["value"]))
    return matches


def _exact(con: duckdb.DuckDBPyConnection, glob: str, identifiers: list[tuple[str, str]]) -> list[dict]:
    columns = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{glob}')").fetchall()}
    kinds = {k for k, _ in identifiers}
    # A kind the release has no column for (sha256 here) can hit nothing.
    pairs = [f"('{kind}', {expression})" for kind, expression in EXACT_COLUMNS.items()
             if kind in columns and kind in kinds]
    if not pairs:
        return []
    con.register("wanted", pa.table({"kind": [k for k, _ in identifiers], "value": [v for _, v in identifiers]}))
    # One scan yields a (kind, value) pair per identifier column of each row, then one hash join:
    # about half the time of a join per kind, each of which rereads the shards.
    rows = con.execute(
        f"""SELECT parse_filename(s.filename, true) AS shard, CAST(s.key AS VARCHAR) AS key, w.kind, w.value
            FROM (SELECT filename, key, unnest([{', '.join(pairs)}]) AS pair
                  FROM read_parquet('{glob}', filename = true) AS s
                  WHERE status = 'success') AS s
            JOIN wanted AS w ON s.pair[1] = w.kind AND s.pair[2] = w.value"""
    ).fetchall()
    return [{"shard": shard, "key": key, "kind": kind, "value": value, "distance": 0}
            for shard, key, kind, value in rows]


def _pdq(con: duckdb.DuckDBPyConnection, glob: str, hashes: list[str]) -> list[dict]:
    if not hashes:
        return []
    queries = _words_of(np.frombuffer("".join(hashes).encode(), dtype=np.uint8).reshape(len(hashes), 64))
    reader = con.sql(
        f"""SELECT parse_filename(filename, true) AS shard, CAST(key AS VARCHAR) AS key, lower(pdq) AS pdq
            FROM read_parquet('{glob}', filename = true)
            WHERE status = 'success' AND length(pdq) = 64"""
    ).to_arrow_reader(SCAN_BATCH_ROWS)
    matches = []
    for batch in reader:
        corpus = _words_of(_ascii_matrix(batch.column(2)))
        for start in range(0, corpus.shape[1], BLOCK_ROWS):
            dist = _distances(queries, corpus[:, start:start + BLOCK_ROWS])
            q, s = np.nonzero(dist <= PDQ_THRESHOLD)
            if len(q):
                at = pa.array(s + start)
                for qi, shard, key, d in zip(q, batch.column(0).take(at).to_pylist(),
                                             batch.column(1).take(at).to_pylist(), dist[q, s], strict=True):
                    matches.append({"shard": shard, "key": key, "kind": "pdq", "value": hashes[qi],
                                    "distance": int(d)})
    return matches


def _ascii_matrix(strings: pa.Array) -> np.ndarray:
    """An (n, 64) uint8 matrix of the characters of n strings that are all 64 characters long."""
    strings = strings.cast(pa.string())  # whichever string layout the reader chose, int32 offsets from here
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32)[strings.offset:strings.offset + len(strings) + 1]
    data = np.frombuffer(strings.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    return data.reshape(len(strings), 64)


def _words_of(hex_chars: np.ndarray) -> np.ndarray:
    """(4, n) uint64 words of n hashes given as (n, 64) lower-case hex characters.

    Word-major, so each word of a block of hashes is one contiguous run.
    """
    nibbles = _NIBBLE[hex_chars]
    raw = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    return np.ascontiguousarray(raw.view(">u8").astype(np.uint64).T)


def _distances(queries: np.ndarray, corpus: np.ndarray) -> np.ndarray:
    """(queries, corpus) Hamming distances of word-major hashes, a word at a time to keep temporaries small."""
    xor = np.empty((queries.shape[1], corpus.shape[1]), dtype=np.uint64)
    bits = np.empty(xor.shape, dtype=np.uint8)
    total = np.zeros(xor.shape, dtype=np.uint16)  # up to 256: too big for uint8
    for w in range(4):
        np.bitwise_xor(queries[w][:, None], corpus[w][None, :], out=xor)
        np.bitwise_count(xor, out=bits)
        total += bits
    return total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("release", help="folder of NNNNN.parquet shards")
    parser.add_argument("removals", help="CSV file with header kind,value")
    parser.add_argument("--out", required=True, help="parquet file to write the matches to")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    matches = baseline_match(args.release, args.removals)
    pq.write_table(pa.Table.from_pylist(matches, schema=RESULT_SCHEMA), args.out)
    print(f"{len(matches)} matches in {time.perf_counter() - start:.1f} s; written to {args.out}")


if __name__ == "__main__":
    main()
