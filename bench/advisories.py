"""Advisories at scale: 1,000 models, each trained on a 1M-sample subset of one release, after a 10k-key version.

The subsets are written straight as .npy files (sorted uint64 key hashes) in the layout `register_model --keys`
stores (ADVISORY_SUBSETS_DIR), drawn from a synthetic release of 2.1M keys; they are generated once and cached in
WORK (8 GB at the defaults). Then a blocklist version adding 10,000 of the release's keys is checked against every
model with the product's own functions (apps.advisories.selectors.models_hits: hash the added keys, binary-search
them in each memory-mapped subset), and against a baseline on the first --baseline-models models: each subset
read into a Python set and intersected with the added keys' hashes, scaled to all models. Both must find the same
counts. The database is not used: this is the computation the blocklist.published handler runs before it writes
one advisory row per hit model.

Usage: python bench/advisories.py [--models 1000] [--subset 1000000] [--added 10000]
                                  [--work /tmp/takedown-bench/advisories]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def setup(work: Path) -> None:
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    os.environ["DATA_DIR"] = str(work / "data")
    os.environ["ADVISORY_SUBSETS_DIR"] = str(work / "subsets")
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()


def release_keys(n: int) -> list[str]:
    return [f"{i:012d}" for i in range(n)]


def generate(work: Path, *, models: int, subset: int, release: int, seed: int = 13) -> None:
    """Write each model's subset (`model-NNNN-r1.npy`) unless this size was generated before."""
    from apps.advisories import subsets

    marker = work / "subsets" / "generated.json"
    wanted = {"models": models, "subset": subset, "release": release, "seed": seed}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return
    folder = work / "subsets"
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    hashes = np.sort(subsets.hash_keys(release_keys(release)))
    rng = np.random.default_rng(seed)
    fraction = subset / release
    for m in range(models):
        mask = rng.random(release) < fraction * 1.01
        chosen = hashes[mask][:subset]
        if len(chosen) < subset:  # a short draw: top it up from the keys left out
            chosen = np.union1d(chosen, hashes[~mask][: subset - len(chosen)])
        subsets.subset_write(folder / f"model-{m:04d}-r1.npy", chosen)
        if m % 100 == 99:
            print(f"  generated {m + 1} subsets ({time.perf_counter() - started:.0f} s)", flush=True)
    marker.write_text(json.dumps(wanted))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--subset", type=int, default=1_000_000)
    parser.add_argument("--added", type=int, default=10_000)
    parser.add_argument("--release", type=int, default=2_100_000, help="keys in the synthetic release")
    parser.add_argument("--baseline-models", type=int, default=50)
    parser.add_argument("--cold", action="store_true",
                        help="evict the subset files from the page cache first (posix_fadvise DONTNEED)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/takedown-bench/advisories"))
    args = parser.parse_args()
    setup(args.work)
    from apps.advisories import subsets
    from apps.advisories.selectors import TrainingData, models_hits

    generate(args.work, models=args.models, subset=args.subset, release=args.release)
    names = [f"model-{m:04d}-r1.npy" for m in range(args.models)]
    trained = [TrainingData(model_id=m, subsets=[name]) for m, name in enumerate(names)]
    keys = release_keys(args.release)
    rng = np.random.default_rng(99)
    added = [keys[i] for i in rng.choice(args.release, size=args.added, replace=False)]

    if args.cold:
        for name in names:
            fd = os.open(subsets.subsets_dir() / name, os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)
    runs = []
    for _ in range(2):
        started = time.perf_counter()
        hashes = subsets.sorted_hashes(added)
        hits = models_hits(hashes, trained)
        counts = {m: int(mask.sum()) for m, mask in hits.items()}
        runs.append(time.perf_counter() - started)

    sample = trained[: args.baseline_models]
    started = time.perf_counter()
    added_hashes = {int(h) for h in subsets.hash_keys(added)}
    baseline_counts = {}
    for data in sample:
        trained_on = set(np.load(subsets.subsets_dir() / data.subsets[0]).tolist())
        baseline_counts[data.model_id] = len(trained_on & added_hashes)
    baseline_sample = time.perf_counter() - started
    baseline = baseline_sample * len(trained) / len(sample)
    same = all(counts.get(m, 0) == c for m, c in baseline_counts.items())

    total = sum(counts.values())
    result = {
        "models": args.models, "subset_keys": args.subset, "release_keys": args.release, "added_keys": args.added,
        "models_hit": len(counts), "samples_hit_total": total, "first_run_s": round(runs[0], 3),
        "second_run_s": round(runs[1], 3), "baseline_models": len(sample),
        "baseline_sample_s": round(baseline_sample, 3), "baseline_scaled_s": round(baseline, 1),
        "speedup": round(baseline / min(runs), 1), "cold": args.cold, "same_counts_as_baseline": same,
    }
    sizes = f"{args.models:,}, {args.subset:,}, {args.release:,}, {args.added:,}"
    first = " from disk" if args.cold else ""
    scaled = f"{baseline_sample:.2f} s (scaled to {args.models:,}: {baseline:.0f} s)"
    print(f"""
| measure | value |
|---|---|
| models, subset keys each, release keys, keys the version adds | {sizes} |
| models hit, training samples hit in all | {len(counts):,}, {total:,} |
| advisory computation, all models (first run{first}; second run) | **{runs[0]:.2f} s**; {runs[1]:.2f} s |
| baseline: Python set per model, {len(sample)} models | {scaled} |
| speed-up over the baseline | **{baseline / min(runs):.0f}x** |
| same counts as the baseline | {"yes" if same else "NO"} |
""")
    out = REPO / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / f"advisories-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(result, indent=2))
    if not same:
        sys.exit("counts differ from the baseline")


if __name__ == "__main__":
    main()
