"""Self-checks of the benchmark's own parts on a small release, without pytest: a few seconds.

Checks that the generator writes img2dataset's layout with the promised
failures, repeats and canonical URLs, the same bytes for the same seed; that
the removal file has its mix of kinds; and that the baseline finds exactly
what a plain-Python matcher finds.

Usage: python bench/selfcheck.py
"""
from __future__ import annotations

import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import baseline  # noqa: E402 - bench/ is on the path as this script's folder
import laion_like  # noqa: E402
import removals  # noqa: E402

from apps.core.identifiers import normalise, normalise_url  # noqa: E402 - plain module, no Django

SHARDS, ROWS, SEED, IDENTIFIERS = 12, 1000, 7, 300


def expect(condition: bool, message: str) -> None:
    """Stop with the message when a check fails (unlike assert, kept under python -O)."""
    if not condition:
        raise SystemExit(f"self-check FAILED: {message}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        release, again = Path(tmp) / "release", Path(tmp) / "again"
        laion_like.write_release(release, shards=SHARDS, rows_per_shard=ROWS, seed=SEED)
        laion_like.write_release(again, shards=SHARDS, rows_per_shard=ROWS, seed=SEED)
        for path in sorted(release.glob("*.parquet")):
            expect(path.read_bytes() == (again / path.name).read_bytes(), f"{path.name} differs between runs")
        rows = check_release(release)
        print(f"release: {len(rows):,} rows in {SHARDS} shards, as promised, the same bytes for the same seed")

        identifiers = removals.make_removals(release, n=IDENTIFIERS, seed=SEED)
        expect(identifiers == removals.make_removals(release, n=IDENTIFIERS, seed=SEED), "removals not repeatable")
        check_removals(identifiers)
        csv_path = Path(tmp) / "removals.csv"
        removals.write_removals_csv(csv_path, identifiers)

        found = {(m["shard"], m["key"], m["kind"], m["value"], m["distance"])
                 for m in baseline.baseline_match(release, csv_path)}
        expected = plain_match(rows, identifiers)
        expect(found == expected, f"baseline differs from the plain matcher: {sorted(found ^ expected)[:5]}")
        hit = {(kind, value) for _, _, kind, value, _ in found}
        targets = sum(round(IDENTIFIERS * share) for kind, share in removals.SHARES.items()
                      if kind not in ("sha1", "sha256"))
        expect(len(hit) == targets, f"{len(hit)} identifiers hit something, expected exactly the {targets} targets")
        near = [d for _, _, kind, _, d in found if kind == "pdq" and d > 0]
        expect(near and max(near) <= removals.MAX_NEAR_FLIPS, f"near-duplicate distances {Counter(near)}")
        several = sum(1 for n in Counter((k, v) for _, _, k, v, _ in found).values() if n > 1)
        expect(several > 0, "no identifier hits more than one sample: repeats are not exercised")
        print(f"removals and baseline: {len(found)} matches of {len(hit)} identifiers ({several} hit several "
              "samples), the same as a plain-Python matcher")
    print("self-checks passed")


def check_release(release: Path) -> list[dict]:
    paths = sorted(release.glob("*.parquet"))
    expect([p.name for p in paths] == [f"{i:05d}.parquet" for i in range(SHARDS)], "shard file names")
    rows = []
    for shard, path in enumerate(paths):
        file = pq.ParquetFile(path)
        expect(file.schema_arrow.names == laion_like.SCHEMA.names, f"{path.name}: columns {file.schema_arrow.names}")
        expect(file.metadata.row_group(0).num_rows == laion_like.ROW_GROUP_ROWS, "img2dataset's row groups")
        table = file.read()
        ok = pc.equal(table["status"], laion_like.SUCCESS)
        expect(pc.all(pc.match_substring_regex(pc.filter(table["md5"], ok), "^[0-9a-f]{32}$")).as_py(), "md5 form")
        expect(pc.all(pc.match_substring_regex(pc.filter(table["pdq"], ok), "^[0-9a-f]{64}$")).as_py(), "pdq form")
        for i, row in enumerate(table.to_pylist()):
            expect(row["key"] == f"{shard * ROWS + i:08d}", f"{path.name} row {i}: key {row['key']}")
            expect(normalise_url(row["url"]) == row["url"], f"URL not canonical: {row['url']}")
            failed = row["status"] != laion_like.SUCCESS
            expect(failed == (row["error_message"] is not None)
                   and all((row[c] is None) == failed for c in ("width", "height", "md5", "pdq", "exif")),
                   f"{path.name} row {i}: status and nulls disagree")
            rows.append({**row, "shard": path.stem})
    ok_rows = [r for r in rows if r["status"] == laion_like.SUCCESS]
    expect(0.05 < 1 - len(ok_rows) / len(rows) < 0.11, "about 8% failed rows")
    for column, same, other in (("md5", "pdq", "url"), ("url", None, "md5")):
        groups = defaultdict(list)
        for row in ok_rows:
            groups[row[column]].append(row)
        copies = [g for g in groups.values() if len(g) > 1]
        extra = sum(len(g) - 1 for g in copies)
        expect(0.0025 < extra / len(ok_rows) < 0.0075, f"about 0.5% of rows repeat a {column}: {extra}")
        for group in copies:
            expect(len({r["shard"] for r in group}) == len(group), f"a repeated {column} within one shard")
            expect(len({r[other] for r in group}) == len(group), f"rows repeating a {column} share their {other}")
            expect(same is None or len({r[same] for r in group}) == 1, f"a repeated image with several {same}")
    return rows


def check_removals(identifiers: list[tuple[str, str]]) -> None:
    kinds = Counter(kind for kind, _ in identifiers)
    expect(len(identifiers) == IDENTIFIERS and len(set(identifiers)) == IDENTIFIERS, "n distinct identifiers")
    expect(set(kinds) == {"url", "key", "md5", "pdq", "sha1", "sha256"}, f"kinds {kinds}")
    spelt = [v for k, v in identifiers if k == "url" and normalise(k, v) != v]
    expect(any(":443/" in v for v in spelt) and any(v != v.lower() for v in spelt), "non-canonical URL spellings")


def plain_match(rows: list[dict], identifiers: list[tuple[str, str]]) -> set[tuple]:
    """Every (shard, key, kind, value, distance) match, the slow and obvious way."""
    ok_rows = [r for r in rows if r["status"] == laion_like.SUCCESS]
    by = {kind: defaultdict(list) for kind in ("url", "key", "md5")}
    for row in ok_rows:
        for kind, index in by.items():
            index[row[kind]].append(row)
    matches = set()
    for kind, raw in identifiers:
        value = normalise(kind, raw)
        if kind in by:
            matches |= {(r["shard"], r["key"], kind, value, 0) for r in by[kind].get(value, ())}
        elif kind == "pdq":
            for row in ok_rows:
                distance = (int(value, 16) ^ int(row["pdq"], 16)).bit_count()
                if distance <= baseline.PDQ_THRESHOLD:
                    matches.add((row["shard"], row["key"], kind, value, distance))
    return matches


if __name__ == "__main__":
    main()
