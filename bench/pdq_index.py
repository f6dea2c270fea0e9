"""PDQ near-duplicate search: the product's multi-index hashing against faiss and brute force.

    .venv/bin/python bench/pdq_index.py [--hashes 1000000] [--queries 300]

One process builds each index over the same random PDQ hashes (each index in a
child process, so its peak memory is its own), runs the same queries (stored
hashes with 0 to 31 bits flipped, plus random ones) at radius 31, and checks
every result set against numpy brute force. Prints a markdown table.
"""
import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RADIUS = 31


def _data(count: int, queries: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, (count, 32), dtype=np.uint8)
    picked = codes[rng.integers(0, count, queries)].copy()
    bits = np.unpackbits(picked, axis=1)
    for row in bits:
        row[rng.choice(256, int(rng.integers(0, RADIUS + 1)), replace=False)] ^= 1
    asked = np.concatenate([np.packbits(bits, axis=1), rng.integers(0, 256, (queries // 10, 32), dtype=np.uint8)])
    return codes, asked


def _brute(codes, asked):
    from apps.index import mih

    stored = mih.words(codes)
    found = set()
    for q, word in enumerate(mih.words(asked)):
        distance = np.bitwise_count(stored ^ word).sum(axis=1)
        found |= {(q, int(i)) for i in np.nonzero(distance <= RADIUS)[0]}
    return found


def _takedown(codes, asked, out):
    from apps.index import mih

    folder = Path(tempfile.mkdtemp())
    start = time.perf_counter()
    mih.build(mih.words(codes), folder)
    built = time.perf_counter() - start
    index = mih.MultiIndex(folder)
    index.search(asked[:2], RADIUS)  # compile and map
    start = time.perf_counter()
    query, item, _ = index.search(asked, RADIUS)
    searched = time.perf_counter() - start
    disk = sum(p.stat().st_size for p in folder.iterdir())
    out.put(("takedown MIH (numpy + numba)", built, searched, set(zip(query.tolist(), item.tolist())), disk))


def _faiss(codes, asked, out):
    import faiss

    start = time.perf_counter()
    index = faiss.IndexBinaryMultiHash(256, 16, 16)
    index.add(codes)
    built = time.perf_counter() - start
    index.nflip = RADIUS // 16
    start = time.perf_counter()
    limits, _, items = index.range_search(asked, RADIUS + 1)  # faiss: distance strictly below the radius
    searched = time.perf_counter() - start
    found = {(q, int(i)) for q in range(len(asked)) for i in items[limits[q]:limits[q + 1]]}
    out.put(("faiss IndexBinaryMultiHash(256, 16, 16), nflip=1", built, searched, found, None))


def _child(target, codes, asked):
    out = multiprocessing.Queue()

    def run():
        target(codes, asked, out)
        out.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)

    process = multiprocessing.get_context("fork").Process(target=run)
    process.start()
    result, peak = out.get(), out.get()
    process.join()
    return (*result, peak)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hashes", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    codes, asked = _data(args.hashes, args.queries)
    expected = _brute(codes, asked)
    print(f"{args.hashes:,} PDQ hashes, {len(asked)} queries at radius {RADIUS}; "
          f"brute force finds {len(expected)} (query, hash) pairs\n")
    print("| index | build | peak memory (build + search) | search | on disk | same as brute force |")
    print("|---|---|---|---|---|---|")
    targets = [_takedown]
    try:
        import faiss  # noqa: F401

        targets.append(_faiss)
    except ImportError:
        print("(faiss-cpu is not installed: its row is skipped)")
    for target in targets:
        name, built, searched, found, disk, peak = _child(target, codes, asked)
        print(f"| {name} | {built:.2f} s | {peak / 2**20:,.0f} MiB | {searched * 1000:.0f} ms | "
              f"{'-' if disk is None else f'{disk / 2**20:,.0f} MiB'} | {'yes' if found == expected else 'NO'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
