"""The matching benchmark: ingest, the match preview and in-service lookups, measured in one run.

Steps, each timed:
  a. generate a LAION-like release and a removal file of 2,000 identifiers (cached in --work);
  b. read the columns ingest needs with pyarrow, page cache warm, best of two: the reference speed for ingest;
  c. `manage.py import_release --no-pdq` in its own process, on a fresh DATA_DIR: time and peak RSS;
  d. `manage.py match` as a whole process against bench/baseline.py (DuckDB + numpy brute force),
     and whether both find exactly the same (shard, key, kind, value, distance) matches;
  e. hits_for() in this process: requests of 10 identifiers and of all 2,000;
  f. the index's size on disk and in memory.
Prints a markdown table and saves everything to bench/out/matching-<date>.json.

Usage: python bench/run_matching.py [--work /tmp/takedown-bench] [--shards 1000] [--rows-per-shard 10000]
"""
from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
sys.path.insert(0, str(REPO))
import laion_like  # noqa: E402 - bench/ is on the path as this script's folder
import removals  # noqa: E402

from apps.core.identifiers import normalise  # noqa: E402 - plain module, no Django

DATASET = "bench"
IDENTIFIERS = 2000
INGEST_COLUMNS = ["key", "url", "status", "md5", "pdq"]
SMALL_REQUEST, SMALL_CALLS, LARGE_CALLS = 10, 200, 5
RSS_POLL_SECONDS = 0.05
SHOW_DIFFERENCES = 20
GOALS = {
    "ingest_vs_read": 0.5,  # ingest at least half the speed of merely reading the columns
    "match_speedup": 20.0,  # the match preview at least 20 times faster than the baseline
    "small_p95_ms": 20.0,
    "large_median_s": 1.0,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="/tmp/takedown-bench",
                        help="folder for the generated release (kept for reuse), the data dir and outputs")
    parser.add_argument("--shards", type=int, default=1000)
    parser.add_argument("--rows-per-shard", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    work = Path(args.work).resolve()
    command = "cd {} && {}".format(shlex.quote(str(REPO)), shlex.join([
        os.path.relpath(sys.executable, REPO) if sys.executable.startswith(str(REPO)) else sys.executable,
        "bench/run_matching.py", "--work", str(work), "--shards", str(args.shards),
        "--rows-per-shard", str(args.rows_per_shard), "--seed", str(args.seed),
    ]))
    print(f"Reproduce with: {command}\n", flush=True)

    started = datetime.datetime.now().astimezone()
    report = {
        "command": command,
        "started": started.isoformat(timespec="seconds"),
        "product_commit": _git("rev-parse", "HEAD"),
        "product_tree_dirty": bool(_git("status", "--porcelain", "--", "apps", "project")),
        "machine": {"cpus": os.cpu_count(), "memory_bytes": _memory_total(), "python": sys.version.split()[0]},
        "shards": args.shards, "rows_per_shard": args.rows_per_shard, "rows": args.shards * args.rows_per_shard,
        "seed": args.seed, "identifiers": IDENTIFIERS,
    }
    out = BENCH / "out" / f"matching-{started:%Y-%m-%d-%H%M%S}.json"
    try:
        _run_all(work, args, report)
    except StepFailed as exc:
        report["error"] = str(exc)
        print(f"\nFAILED: {exc}", file=sys.stderr)
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    if "error" not in report:
        print(_table(report), flush=True)
    print(f"\nSaved to {os.path.relpath(out, Path.cwd())}", flush=True)
    return 1 if "error" in report else 0


class StepFailed(RuntimeError):
    """A step could not produce its numbers; the message says which and why."""


def _run_all(work: Path, args, report: dict) -> None:
    name = f"{args.shards}x{args.rows_per_shard}-seed{args.seed}"
    release_dir = work / f"release-{name}"
    removals_csv = work / f"removals-{name}.csv"
    data_dir = work / "data"
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    rows = report["rows"]
    env = {**os.environ, "DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "project.settings"}

    _step("a. generate")
    report["generate"] = _generate(release_dir, removals_csv, args)
    report["release_bytes"] = _tree_bytes(release_dir)

    _step("b. pyarrow read of the ingest columns")
    paths = sorted(release_dir.glob("*.parquet"))
    # Both sides read from the page cache, not the disk: warm it, then keep the faster of two
    # reads, so the reference is the strictest one this machine gives.
    for path in paths:
        path.read_bytes()
    timings = []
    for _ in range(2):
        start = time.perf_counter()
        read_rows = sum(pq.read_table(path, columns=INGEST_COLUMNS).num_rows for path in paths)
        timings.append(time.perf_counter() - start)
    read_s = min(timings)
    report["read"] = {"seconds": read_s, "rows": read_rows, "rows_per_s": read_rows / read_s, "runs": timings}

    _step("c. ingest (import_release --no-pdq)")
    shutil.rmtree(data_dir, ignore_errors=True)
    migrate = _measure([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], env, logs / "migrate.log")
    ingest = _measure([sys.executable, "manage.py", "import_release", DATASET, name, str(release_dir),
                       "--no-progress", "--no-pdq"], env, logs / "import_release.log")
    report["migrate_seconds"] = migrate["seconds"]
    report["ingest"] = {**ingest, "rows_per_s": rows / ingest["seconds"],
                        "vs_read": (rows / ingest["seconds"]) / report["read"]["rows_per_s"]}

    _step("d. match preview against the baseline, each as a whole process")
    matches, baseline = work / "matches.parquet", work / "baseline.parquet"
    match = _measure([sys.executable, "manage.py", "match", DATASET, name, str(removals_csv), "--out", str(matches)],
                     env, logs / "match.log")
    base = _measure([sys.executable, str(BENCH / "baseline.py"), str(release_dir), str(removals_csv),
                     "--out", str(baseline)], env, logs / "baseline.log")
    report["match"] = match
    report["baseline"] = base
    report["match_speedup"] = base["seconds"] / match["seconds"]
    report["comparison"] = _compare(matches, baseline)

    _step("e. in-service latency (hits_for in this process)")
    report["service"] = _service_latency(data_dir, name, removals_csv, args.seed)

    _step("f. index size")
    index_dir = data_dir / "index"
    index_bytes = _tree_bytes(index_dir) if index_dir.exists() else None
    millions = rows / 1e6
    report["index"] = {
        "disk_bytes": index_bytes,
        "disk_bytes_per_million_rows": None if index_bytes is None else index_bytes / millions,
        "data_dir_bytes": _tree_bytes(data_dir),
        "data_dir_bytes_per_million_rows": _tree_bytes(data_dir) / millions,
        "memory_bytes": report["service"]["rss_growth_bytes"],
        "memory_bytes_per_million_rows": report["service"]["rss_growth_bytes"] / millions,
    }
    report["goals"] = {
        "ingest_vs_read": report["ingest"]["vs_read"] >= GOALS["ingest_vs_read"],
        "match_speedup": report["match_speedup"] >= GOALS["match_speedup"],
        "match_identical": report["comparison"]["identical"],
        "small_p95_ms": report["service"]["small_p95_ms"] < GOALS["small_p95_ms"],
        "large_median_s": report["service"]["large_median_s"] < GOALS["large_median_s"],
    }


def _step(title: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {title}", file=sys.stderr, flush=True)


def _generate(release_dir: Path, removals_csv: Path, args) -> dict:
    """Write the release and removal file unless a previous run left them; built aside, then renamed into place."""
    result = {"release_cached": release_dir.exists(), "removals_cached": removals_csv.exists()}
    if not release_dir.exists():
        partial = release_dir.with_name(release_dir.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        start = time.perf_counter()
        laion_like.write_release(partial, shards=args.shards, rows_per_shard=args.rows_per_shard, seed=args.seed)
        result["release_seconds"] = time.perf_counter() - start
        partial.rename(release_dir)
    if not removals_csv.exists():
        partial = removals_csv.with_name(removals_csv.name + ".partial")
        start = time.perf_counter()
        removals.write_removals_csv(partial, removals.make_removals(release_dir, n=IDENTIFIERS, seed=args.seed))
        result["removals_seconds"] = time.perf_counter() - start
        partial.rename(removals_csv)
    return result


def _measure(cmd: list[str], env: dict, log: Path) -> dict:
    """Run cmd from the repository root: wall seconds, and peak RSS of its process tree and of any one process."""
    with open(log, "w") as output:
        output.write(shlex.join(cmd) + "\n")
        output.flush()
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT)
        poller = _TreeRss(proc.pid)
        poller.start()
        # wait4 rather than proc.wait(): it also gives the largest RSS of any process of the tree.
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        poller.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-15:])
        raise StepFailed(f"{shlex.join(cmd[1:4])} exited with {proc.returncode}; end of {log}:\n{tail}")
    return {"seconds": seconds, "peak_rss_tree_bytes": poller.peak,
            "peak_rss_single_bytes": usage.ru_maxrss * 1024, "log": str(log)}


class _TreeRss(threading.Thread):
    """Samples the summed VmRSS of a process and its descendants every RSS_POLL_SECONDS; keeps the peak.

    Summing RSS counts pages shared between processes once per process, so the
    tree peak errs high; the single-process peak (from wait4) is exact.
    """

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self._done = threading.Event()

    def run(self) -> None:
        while True:
            self.peak = max(self.peak, _tree_rss(self.pid))
            if self._done.wait(RSS_POLL_SECONDS):
                return

    def stop(self) -> None:
        self._done.set()
        self.join()


def _tree_rss(root: int) -> int:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        total += _rss(pid)
    return total


def _rss(pid: int | str = "self") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass  # the process has exited: it holds nothing
    return 0


def _compare(product_parquet: Path, baseline_parquet: Path) -> dict:
    """Both result sets as (shard, key, kind, value, distance), and what only one of them has."""
    product_rows = [(r["shard"], r["key"], r["kind"], r["value"], int(r["distance"]))
                    for r in pq.read_table(product_parquet).to_pylist()]
    product = set(product_rows)
    baseline = {(r["shard"], r["key"], r["kind"], normalise(r["kind"], r["value"]), int(r["distance"]))
                for r in pq.read_table(baseline_parquet).to_pylist()}
    only_product, only_baseline = sorted(product - baseline), sorted(baseline - product)
    return {
        "product_matches": len(product), "baseline_matches": len(baseline),
        # Sets hide a match listed twice; the preview should list each (identifier, sample) once.
        "product_repeated_rows": len(product_rows) - len(product),
        "identical": not only_product and not only_baseline,
        "only_product": len(only_product), "only_baseline": len(only_baseline),
        "only_product_first": [list(m) for m in only_product[:SHOW_DIFFERENCES]],
        "only_baseline_first": [list(m) for m in only_baseline[:SHOW_DIFFERENCES]],
    }


def _service_latency(data_dir: Path, release_name: str, removals_csv: Path, seed: int) -> dict:
    """Time hits_for() on the imported release in this process, as the web service would call it."""
    os.environ["DATA_DIR"] = str(data_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    import django

    django.setup()
    from django.db import connection

    from apps.datasets.models import Release
    from apps.matching.selectors import Query, hits_for

    release = Release.objects.get(dataset__name=DATASET, name=release_name)
    with open(removals_csv, newline="", encoding="utf-8") as handle:
        queries = [Query(ref=i, kind=row["kind"], value=normalise(row["kind"], row["value"]))
                   for i, row in enumerate(csv.DictReader(handle))]
    rss_before = _rss()
    start = time.perf_counter()
    hits_for(queries, releases=[release])
    first_s = time.perf_counter() - start
    rss_growth = _rss() - rss_before

    rng = random.Random(seed)
    small = []
    for _ in range(SMALL_CALLS):
        request = rng.sample(queries, SMALL_REQUEST)
        start = time.perf_counter()
        hits_for(request, releases=[release])
        small.append((time.perf_counter() - start) * 1000)
    large = []
    for _ in range(LARGE_CALLS):
        start = time.perf_counter()
        hits_for(queries, releases=[release])
        large.append(time.perf_counter() - start)
    return {
        "database": connection.vendor,
        "first_call_s": first_s,
        "rss_growth_bytes": rss_growth,
        "small_calls": SMALL_CALLS, "small_identifiers": SMALL_REQUEST,
        "small_p50_ms": float(np.percentile(small, 50)), "small_p95_ms": float(np.percentile(small, 95)),
        "small_max_ms": max(small),
        "large_calls": LARGE_CALLS, "large_identifiers": len(queries),
        "large_median_s": float(np.median(large)), "large_max_s": max(large),
    }


def _table(report: dict) -> str:
    read, ingest, service, index = report["read"], report["ingest"], report["service"], report["index"]
    comparison, goals = report["comparison"], report["goals"]
    rows, mb = report["rows"], 1024 * 1024

    def met(name: str) -> str:
        return "yes" if goals[name] else "**NO**"

    def per_million(value: float | None) -> str:
        return "no index dir" if value is None else f"{value / mb:,.1f} MiB"

    lines = [
        f"{rows:,} rows in {report['shards']:,} shards ({report['release_bytes'] / mb:,.1f} MiB), "
        f"{report['identifiers']:,} identifiers; product at {report['product_commit'][:10] or 'an unknown commit'}"
        + (" (with uncommitted changes)" if report["product_tree_dirty"] else "")
        + f", {service['database']}",
        "",
        "| measure | value | goal | met |",
        "|---|---|---|---|",
        f"| pyarrow read of {', '.join(INGEST_COLUMNS)} | {read['seconds']:.2f} s "
        f"({read['rows_per_s']:,.0f} rows/s) | reference | |",
        f"| ingest (import_release --no-pdq, whole process) | {ingest['seconds']:.2f} s "
        f"({ingest['rows_per_s']:,.0f} rows/s, {ingest['vs_read']:.2f} of read speed) | >= 0.5 of read speed "
        f"| {met('ingest_vs_read')} |",
        f"| ingest peak RSS, process tree / largest process | {ingest['peak_rss_tree_bytes'] / mb:,.0f} MiB / "
        f"{ingest['peak_rss_single_bytes'] / mb:,.0f} MiB | | |",
        f"| match preview, whole process | {report['match']['seconds']:.2f} s | | |",
        f"| baseline (DuckDB + numpy), whole process | {report['baseline']['seconds']:.2f} s | | |",
        f"| match speed-up over baseline | {report['match_speedup']:.1f}x | >= 20x | {met('match_speedup')} |",
        f"| same matches as baseline | {comparison['product_matches']:,} vs {comparison['baseline_matches']:,}"
        f" ({comparison['only_product']} only in product, {comparison['only_baseline']} only in baseline"
        + (f", {comparison['product_repeated_rows']} listed twice by the product"
           if comparison["product_repeated_rows"] else "") + ")"
        f" | identical | {met('match_identical')} |",
        f"| hits_for, {service['small_identifiers']} identifiers ({service['small_calls']} calls) | "
        f"p50 {service['small_p50_ms']:.1f} ms, p95 {service['small_p95_ms']:.1f} ms, "
        f"max {service['small_max_ms']:.1f} ms | p95 < 20 ms | {met('small_p95_ms')} |",
        f"| hits_for, {service['large_identifiers']:,} identifiers ({service['large_calls']} calls) | "
        f"median {service['large_median_s']:.3f} s, max {service['large_max_s']:.3f} s | median < 1 s "
        f"| {met('large_median_s')} |",
        f"| hits_for, first call (cold) | {service['first_call_s']:.3f} s | | |",
        f"| index on disk (DATA_DIR/index) per million rows | {per_million(index['disk_bytes_per_million_rows'])}"
        " | | |",
        f"| whole DATA_DIR per million rows | {per_million(index['data_dir_bytes_per_million_rows'])} | | |",
        f"| index in memory (RSS growth over the first call) per million rows | "
        f"{per_million(index['memory_bytes_per_million_rows'])} | | |",
    ]
    if not comparison["identical"]:
        lines.append("")
        for label, key in (("only in the product", "only_product_first"), ("only in the baseline",
                                                                          "only_baseline_first")):
            for match in comparison[key]:
                lines.append(f"- {label}: {tuple(match)}")
    return "\n".join(lines)


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _memory_total() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
