"""A removal file for a release: identifiers of every kind, as hotlines and the public send them.

Of n identifiers, about: 20% URLs (some spelt non-canonically: upper-case
host, explicit :443), 20% sample keys, 20% md5 (some in upper case), 10% PDQ
hashes copied exactly, 15% PDQ near-duplicates (a stored hash with 1 to 24
bits flipped, as a re-encoded copy of the image would hash), 2.5% each sha1
and sha256 (the release has no such columns, so they hit nothing), and 10%
that hit nothing (made-up md5s, URLs and keys).

Targets are successful rows of up to 64 shards spread over the release; rows
whose image or URL appears twice among them come first, so the file also
exercises identifiers that hit several samples.

Usage: python bench/removals.py RELEASE_DIR OUT.csv [--n 2000] [--seed 0]
"""
from __future__ import annotations

import argparse
import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SAMPLED_SHARDS = 64
MAX_NEAR_FLIPS = 24
# Share of each kind; what is left over is identifiers that hit nothing.
SHARES = {"url": 0.20, "key": 0.20, "md5": 0.20, "pdq": 0.10, "pdq_near": 0.15, "sha1": 0.025, "sha256": 0.025}
NONCANONICAL_URL_SHARE = 0.3
UPPER_MD5_SHARE = 0.1
# Of the targets of URL, md5 and PDQ identifiers, at most this share are rows known to repeat.
REPEATED_SHARE = 0.05


def make_removals(release_dir, n: int = 2000, seed: int = 0) -> list[tuple[str, str]]:
    """n (kind, value) identifiers for the release in release_dir, the same for the same seed and release."""
    rng = np.random.default_rng([seed, 0x52454D])
    paths = sorted(Path(release_dir).glob("*.parquet"))
    if not paths:
        raise ValueError(f"{release_dir}: no .parquet shards")
    rows = _successful_rows(paths)
    counts = {kind: round(n * share) for kind, share in SHARES.items()}
    counts["nothing"] = max(0, n - sum(counts.values()))
    if len(rows) < 2 * n:
        raise ValueError(f"{release_dir}: only {len(rows)} successful rows in the sampled shards, need {2 * n}")

    url, key, md5, pdq = (rows[c].to_numpy(zero_copy_only=False) for c in ("url", "key", "md5", "pdq"))
    # Integer codes of the values: sorting them is far cheaper than sorting the strings.
    url_code, key_code, md5_code, pdq_code = (_codes(rows[c]) for c in ("url", "key", "md5", "pdq"))
    used = np.zeros(len(rows), dtype=bool)
    repeated_url = _repeated(url_code)
    repeated_image = _repeated(md5_code)

    def targets(count: int, codes: np.ndarray, repeated: np.ndarray) -> np.ndarray:
        """Row indices of `count` unused rows with distinct values, some of them repeated rows."""
        order = rng.permutation(len(rows))
        first = order[repeated[order]][: int(count * REPEATED_SHARE)]
        order = np.concatenate([first, order[~np.isin(order, first)]])
        order = order[~used[order]]
        _, at = np.unique(codes[order], return_index=True)  # one row per value
        chosen = order[np.sort(at)][:count]
        used[chosen] = True
        return chosen

    out: list[tuple[str, str]] = []
    for i, row in enumerate(targets(counts["url"], url_code, repeated_url)):
        out.append(("url", _spelling(url[row]) if i < counts["url"] * NONCANONICAL_URL_SHARE else url[row]))
    for row in targets(counts["key"], key_code, np.zeros(len(rows), dtype=bool)):
        out.append(("key", key[row]))
    for i, row in enumerate(targets(counts["md5"], md5_code, repeated_image)):
        out.append(("md5", md5[row].upper() if i < counts["md5"] * UPPER_MD5_SHARE else md5[row]))
    for row in targets(counts["pdq"], pdq_code, repeated_image):
        out.append(("pdq", pdq[row]))
    for row in targets(counts["pdq_near"], pdq_code, repeated_image):
        flips = rng.choice(256, size=int(rng.integers(1, MAX_NEAR_FLIPS + 1)), replace=False)
        out.append(("pdq", f"{int(pdq[row], 16) ^ sum(1 << int(b) for b in flips):064x}"))
    for kind, chars in (("sha1", 40), ("sha256", 64)):
        out += [(kind, _random_hex(rng, chars)) for _ in range(counts[kind])]
    out += _unmatched(rng, counts["nothing"], paths, url, key)
    return [out[i] for i in rng.permutation(len(out))]


def write_removals_csv(path, identifiers: list[tuple[str, str]]) -> None:
    """Write identifiers as a CSV with the header kind,value."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["kind", "value"])
        writer.writerows(identifiers)


def _successful_rows(paths: list[Path]) -> pa.Table:
    picks = sorted(set(np.linspace(0, len(paths) - 1, min(SAMPLED_SHARDS, len(paths))).round().astype(int)))
    tables = []
    for i in picks:
        table = pq.read_table(paths[i], columns=["key", "url", "status", "md5", "pdq"])
        tables.append(table.filter(pc.equal(table["status"], "success")))
    return pa.concat_tables(tables)


def _codes(column: pa.ChunkedArray) -> np.ndarray:
    """Each value's index in the column's dictionary of distinct values."""
    return column.combine_chunks().dictionary_encode().indices.to_numpy()


def _repeated(codes: np.ndarray) -> np.ndarray:
    """Which entries have a value that occurs more than once."""
    return np.bincount(codes)[codes] > 1


def _spelling(url: str) -> str:
    """An equivalent, non-canonical spelling of a canonical https URL: upper-case host, :443, or both."""
    host, slash, rest = url.removeprefix("https://").partition("/")
    form = sum(map(ord, rest)) % 3  # varies with the URL, so all three forms occur
    host = (host.upper(), f"{host}:443", f"{host.upper()}:443")[form]
    return f"https://{host}{slash}{rest}"


def _random_hex(rng: np.random.Generator, chars: int) -> str:
    return rng.bytes(chars // 2).hex()


def _unmatched(rng: np.random.Generator, count: int, paths: list[Path], url: np.ndarray,
               key: np.ndarray) -> list[tuple[str, str]]:
    """Made-up md5s, URLs on the release's hosts, and keys of shards past the last one."""
    out = []
    key_width = len(key[0])
    row_digits = key_width - len(paths[0].stem)
    next_shard = max(int(p.stem) for p in paths) + 1
    for i in range(count):
        if i % 3 == 0:
            out.append(("md5", _random_hex(rng, 32)))
        elif i % 3 == 1:
            host = url[rng.integers(len(url))].removeprefix("https://").partition("/")[0]
            out.append(("url", f"https://{host}/removed/{_random_hex(rng, 12)}.jpg"))
        else:
            number = (next_shard + int(rng.integers(1000))) * 10**row_digits + int(rng.integers(10**row_digits))
            out.append(("key", f"{number:0{key_width}d}"))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("release", help="folder of NNNNN.parquet shards")
    parser.add_argument("out", help="CSV file to write")
    parser.add_argument("--n", type=int, default=2000, help="number of identifiers")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    identifiers = make_removals(args.release, n=args.n, seed=args.seed)
    write_removals_csv(args.out, identifiers)
    counts = Counter(kind for kind, _ in identifiers)
    print(f"{len(identifiers)} identifiers written to {args.out}: "
          + ", ".join(f"{kind} {count}" for kind, count in sorted(counts.items())))


if __name__ == "__main__":
    main()
