"""SQLite under a large match: does the web keep serving flaggers while the worker matches 100,000 identifiers?

The product on its default, server-less set-up, as ./run starts it: SQLite (WAL) in a fresh
DATA_DIR, the folder broker, gunicorn serving `project.wsgi` and one
`celery -A project worker --beat --concurrency 2`. Steps:

  a. generate a LAION-like release (cached in --work, as bench/run_matching.py does; 10M rows by
     default), migrate a fresh DATA_DIR (a temp folder) and `manage.py import_release` it in the
     foreground;
  b. `manage.py create_flagger ... --kind research`, then start gunicorn and the worker, and send
     a warm-up round of small POSTs (not counted: each web process imports the views on its
     first request, each pool process opens the index on its first match);
  c. baseline: --small POSTs of --small-size identifiers each to the flagger API, one every
     --interval seconds, each from its own thread (a slow answer does not delay the next one),
     with nothing else running; then wait until the worker has matched them all;
  d. one POST of --identifiers identifiers (CSV: keys, URLs, md5s and PDQ hashes of the release's
     samples, some PDQ hashes a few bits off, and a fifth that hit nothing), timed; for the record,
     small POSTs go on every --interval seconds while it is being logged;
  e. once the worker's `matching.match_request` run of that request is running (read from the
     SQLite file), half of the small POSTs, on the same schedule, while it searches the index;
     the other half from the moment its first match rows appear, while it writes them; then wait
     for the match to finish. Its times come from the handler run (started_at, finished_at), the
     request (created_at, matched_at) and the match rows (first and last created_at).

Prints a markdown table and saves bench/out/sqlite-contention-<date>.json. Exits 1 when a POST
under load took more than --limit seconds, did not answer 2xx, or was sent after the match had
ended (then it was not under load); 2 when the bench itself failed. Every process it started is
stopped at the end (also on Ctrl-C, SIGTERM or failure), and the temp DATA_DIR removed unless
--keep or the bench failed.

Usage: python bench/sqlite_contention.py [--shards 1000] [--rows-per-shard 10000] [--identifiers 100000]
"""
from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import shlex
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
import laion_like  # noqa: E402 - bench/ is on the path
from mirror_fanout import free_port, wait_port  # noqa: E402

PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable
DATASET = "bench"
MATCH_HANDLER = "matching.match_request"
# Shares of the big request, as a hotline's list might be: keys, URLs, md5s and PDQ hashes of the release's
# samples, half of the PDQ hashes a few bits off (a re-encoded copy); the rest hits nothing (made-up keys,
# URLs and md5s). The PDQ searches take most of the matching time.
SHARES = {"key": 0.25, "url": 0.20, "md5": 0.15, "pdq": 0.10, "pdq_near": 0.10}
MAX_NEAR_FLIPS = 24


def _interrupt(signum, frame):
    raise KeyboardInterrupt


class Failed(RuntimeError):
    """The bench could not produce its numbers; the message says which step and why."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="/tmp/takedown-bench", help="where the generated release is cached")
    parser.add_argument("--shards", type=int, default=1000)
    parser.add_argument("--rows-per-shard", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--identifiers", type=int, default=100_000, help="identifiers in the big request")
    parser.add_argument("--small", type=int, default=20, help="small POSTs, under load and in the baseline")
    parser.add_argument("--small-size", type=int, default=10, help="identifiers per small POST")
    parser.add_argument("--interval", type=float, default=0.3, help="seconds between the starts of small POSTs")
    parser.add_argument("--limit", type=float, default=1.0, help="the slowest small POST allowed under load (s)")
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the temp DATA_DIR and logs")
    args = parser.parse_args(argv)
    command = "cd {} && {}".format(shlex.quote(str(REPO)), shlex.join([
        os.path.relpath(PYTHON, REPO), "bench/sqlite_contention.py", "--shards", str(args.shards),
        "--rows-per-shard", str(args.rows_per_shard), "--identifiers", str(args.identifiers),
        "--small", str(args.small), "--interval", str(args.interval)]))
    print(f"Reproduce with: {command}\n", flush=True)

    # Ctrl-C reaches this process only (the children run in sessions of their own); SIGTERM is handled alike.
    signal.signal(signal.SIGTERM, _interrupt)
    started = datetime.datetime.now().astimezone()
    report = {"command": command, "started": started.isoformat(timespec="seconds"),
              "product_commit": _git("rev-parse", "HEAD"),
              "product_tree_dirty": bool(_git("status", "--porcelain", "--", "apps", "project")),
              "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
              "rows": args.shards * args.rows_per_shard, "identifiers": args.identifiers,
              "small_posts": args.small, "small_size": args.small_size, "interval_s": args.interval,
              "web": f"gunicorn {args.web_workers} workers x {args.web_threads} threads",
              "worker": "celery -A project worker --beat --concurrency 2"}
    bench = Bench(args)
    try:
        bench.run(report)
    except Failed as exc:
        report["error"] = str(exc)
        print(f"\nFAILED: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        report["error"] = "interrupted"
        print("\ninterrupted", file=sys.stderr)
    finally:
        bench.stop_all()
        if args.keep or "error" in report:
            print(f"DATA_DIR and logs kept in {bench.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(bench.tmp, ignore_errors=True)
    out = REPO / "bench" / "out" / f"sqlite-contention-{started:%Y-%m-%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    if "error" in report:
        return 2
    print(_table(report, args), flush=True)
    load = report["under_load"]
    if load["sent_while_matching"] < len(load["posts"]):
        print(f"\nOnly {load['sent_while_matching']} of the {len(load['posts'])} POSTs under load were sent while the "
              "match ran: a larger release (--shards) or request (--identifiers) makes it last longer.", flush=True)
    print(f"\nSaved to {os.path.relpath(out, Path.cwd())}", flush=True)
    return 0 if report["met"] else 1


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="takedown-sqlite-contention-"))
        self.data = self.tmp / "data"
        self.logs = self.tmp / "logs"
        self.logs.mkdir()
        self.procs: list[subprocess.Popen] = []
        self.port = free_port()
        self.env = {**os.environ, "DATA_DIR": str(self.data), "DJANGO_SETTINGS_MODULE": "project.settings",
                    "PYTHONUNBUFFERED": "1"}
        for name in ("DATABASE_URL", "REDIS_URL", "CACHE_URL", "CELERY_TASK_ALWAYS_EAGER"):
            self.env.pop(name, None)  # the default set-up: SQLite and the folder broker
        self.token = ""
        self.db: sqlite3.Connection | None = None

    # ---------------------------------------------------------------- processes

    def manage(self, *cmd: str, log: str) -> str:
        with open(self.logs / f"{log}.log", "w") as output:
            done = subprocess.run([PYTHON, "manage.py", *cmd], cwd=REPO, env=self.env, stdout=subprocess.PIPE,
                                  stderr=output, text=True)
            output.write(done.stdout)
        if done.returncode:
            raise Failed(f"manage.py {' '.join(cmd[:2])} exited {done.returncode} (see {self.logs / log}.log)")
        return done.stdout

    def spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(cmd, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        """SIGTERM to each started process (gunicorn and Celery stop their children), then SIGKILL to whatever of
        its process group is left after 30 s."""
        if self.db is not None:
            self.db.close()
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 30  # a Celery worker takes 3 to 10 s to stop
        for proc in self.procs:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # whatever of its group is left (pool children)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()

    # ---------------------------------------------------------------- the run

    def run(self, report: dict) -> None:
        a = self.args
        name = f"{a.shards}x{a.rows_per_shard}-seed{a.seed}"
        release_dir = Path(a.work) / f"release-{name}"
        _step("a. release, migrate, import_release")
        if not release_dir.exists():
            partial = release_dir.with_name(release_dir.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            laion_like.write_release(partial, shards=a.shards, rows_per_shard=a.rows_per_shard, seed=a.seed)
            partial.rename(release_dir)
        self.manage("migrate", "--no-input", "-v", "0", log="migrate")
        start = time.perf_counter()
        self.manage("import_release", DATASET, name, str(release_dir), "--no-progress", "--no-pdq",
                    log="import_release")
        report["import_seconds"] = round(time.perf_counter() - start, 2)
        big, small = _identifiers(release_dir, a.identifiers, a.small * 3 + a.web_workers * a.web_threads,
                                  a.small_size, a.seed)
        report["big_request_kinds"] = {k: sum(1 for kind, _ in big if kind == k) for k in sorted({k for k, _ in big})}

        _step("b. flagger, gunicorn, worker")
        self.token = self.manage("create_flagger", "Bench research group", "--kind", "research",
                                 log="create_flagger").strip().splitlines()[-1]
        self.spawn("gunicorn", [str(REPO / ".venv" / "bin" / "gunicorn"), "project.wsgi",
                                "-b", f"127.0.0.1:{self.port}", "-w", str(a.web_workers), "--threads",
                                str(a.web_threads), "--timeout", "300", "--access-logfile",
                                str(self.logs / "access.log"), "--access-logformat",
                                '%(t)s "%(r)s" %(s)s %(D)sus'])
        self.spawn("worker", [PYTHON, "-m", "celery", "-A", "project", "worker", "--beat", "--loglevel", "INFO",
                              "--concurrency", "2", "--schedule", str(self.data / "celery" / "beat-schedule")])
        try:
            wait_port(self.port)
        except TimeoutError as exc:
            raise Failed(f"gunicorn: {exc} (see {self.logs / 'gunicorn.log'})") from None
        self.db = sqlite3.connect(self.data / "takedown.sqlite3", isolation_level=None, timeout=30)
        self._wait(lambda: self.db.execute("SELECT 1 FROM events_heartbeat WHERE kind='worker'").fetchone(),
                   "the worker's first heartbeat", 120)

        # Each gunicorn worker imports the views on its first request, and each pool process of the Celery
        # worker opens the index on its first match: a warm-up round, not counted, so neither is measured.
        _step("c. warm-up")
        warm = self.small_posts(small[-a.web_workers * a.web_threads:], "warmup", interval=0)
        if warm["failures"]:
            raise Failed(f"warm-up POSTs failed: {[p for p in warm['posts'] if p['status'] != 201][:3]}")
        self._wait(lambda: not self._open_runs(), "the worker to match the warm-up requests", 300)
        time.sleep(1.0)
        _step(f"c. baseline: {a.small} POSTs of {a.small_size} identifiers, nothing else running")
        report["baseline"] = self.small_posts(small[:a.small], "baseline")
        self._wait(lambda: not self._open_runs(), "the worker to match the baseline's requests", 300)
        time.sleep(1.0)

        _step(f"d. one POST of {len(big):,} identifiers")
        body = ("kind,value\n" + "".join(f"{k},{v}\n" for k, v in big)).encode()
        report["big_body_bytes"] = len(body)
        # For the record (not the acceptance): small POSTs sent while the big one is being logged.
        submitting = threading.Event()
        beside: dict = {}
        side = threading.Thread(target=lambda: beside.update(self.small_posts(
            small[2 * a.small:3 * a.small], "during-submit", until=submitting)))
        start = time.perf_counter()
        side.start()
        status, answer = self.post(body, "big-request", timeout=600)
        report["big_submit_seconds"] = round(time.perf_counter() - start, 3)
        submitting.set()
        side.join()
        report["during_submit"] = beside
        report["big_submit_status"] = status
        if status != 201:
            raise Failed(f"the big request answered {status}: {answer[:300]!r}")
        tracking_id = json.loads(answer)["tracking_id"]
        request_pk = self.db.execute("SELECT id FROM removals_removalrequest WHERE tracking_id=?",
                                     [tracking_id]).fetchone()[0]

        _step("e. waiting for the worker to start matching it")
        run = self._wait(lambda: self._match_run(request_pk, started=True), "the match run to start", 300)
        if run["status"] != "running":
            raise Failed(f"the match run was already {run['status']} when first seen: raise --identifiers or "
                         "--rows-per-shard so matching lasts longer")
        # Half of the POSTs while the worker searches the index (it only reads then), half from when its first
        # match rows appear (it writes them then, in batches): the phase where they compete for the lock.
        half = a.small // 2
        _step(f"e. {half} POSTs while the worker searches")
        searching = self.small_posts(small[a.small:a.small + half], "load-search")
        self._wait(lambda: self.db.execute("SELECT 1 FROM matching_match WHERE request_id=? LIMIT 1",
                                           [request_pk]).fetchone(), "the first match rows", 1800)
        _step(f"e. {a.small - half} POSTs while the worker writes its matches")
        writing = self.small_posts(small[a.small + half:2 * a.small], "load-write")
        report["under_load"] = _summary(searching["posts"] + writing["posts"])
        report["under_load"]["search_half_max_s"] = searching["max_s"]
        report["under_load"]["write_half_max_s"] = writing["max_s"]
        run = self._wait(lambda: self._match_run(request_pk, done=True), "the match to finish", 1800)
        if run["status"] != "done":
            raise Failed(f"the match run ended {run['status']}: {run['last_error'][:300]}")
        request = self.db.execute("SELECT created_at, matched_at FROM removals_removalrequest WHERE id=?",
                                  [request_pk]).fetchone()
        matches = self.db.execute("SELECT count(*) FROM matching_match WHERE request_id=?", [request_pk]).fetchone()
        # The match rows' creation times (set as each batch is written) bound the phase that writes them.
        first_write, last_write = self.db.execute("SELECT min(created_at), max(created_at) FROM matching_match "
                                                  "WHERE request_id=?", [request_pk]).fetchone()
        started_at, finished_at = _utc(run["started_at"]), _utc(run["finished_at"])
        report["match"] = {
            "tracking_id": tracking_id, "matches": matches[0], "attempts": run["attempts"],
            "handler_seconds": round((finished_at - started_at).total_seconds(), 2),
            "created_to_matched_seconds": round((_utc(request[1]) - _utc(request[0])).total_seconds(), 2),
            "started_at": started_at.isoformat(), "finished_at": finished_at.isoformat(),
            "writes_seconds": round((_utc(last_write) - _utc(first_write)).total_seconds(), 2),
            "writes_from_s": round((_utc(first_write) - started_at).total_seconds(), 2),
        }
        for name, begin, end in (("sent_while_matching", started_at, finished_at),
                                 ("sent_while_writing", _utc(first_write), _utc(last_write))):
            report["under_load"][name] = sum(1 for p in report["under_load"]["posts"]
                                             if begin <= datetime.datetime.fromisoformat(p["sent_at"]) <= end)
        load = report["under_load"]
        report["met"] = (load["failures"] == 0 and load["max_s"] <= a.limit
                         and load["sent_while_matching"] == len(load["posts"]))

    def post(self, body: bytes, reference: str, *, timeout: float = 60) -> tuple[int, bytes]:
        """One flagger POST on a new connection, as a client would send it: status and body (599: no answer)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("POST", f"/api/v1/flagger/requests?category=other&reference={reference}", body,
                         {"Authorization": f"Bearer {self.token}", "Content-Type": "text/csv"})
            response = conn.getresponse()
            return response.status, response.read()
        except OSError as exc:
            return 599, str(exc).encode()
        finally:
            conn.close()

    def small_posts(self, requests: list[list[tuple[str, str]]], label: str, *, interval: float | None = None,
                    until: threading.Event | None = None) -> dict:
        """Send each small request from its own thread, one starting every --interval seconds (none once
        `until` is set); time each."""
        interval = self.args.interval if interval is None else interval
        stop = until or threading.Event()
        results: list[dict] = [{} for _ in requests]

        def send(i: int, rows: list[tuple[str, str]]) -> None:
            body = ("kind,value\n" + "".join(f"{k},{v}\n" for k, v in rows)).encode()
            sent_at = datetime.datetime.now(datetime.UTC)
            start = time.perf_counter()
            status, answer = self.post(body, f"{label}-{i:02d}-{os.getpid()}")
            results[i] = {"sent_at": sent_at.isoformat(), "seconds": round(time.perf_counter() - start, 4),
                          "status": status, **({} if 200 <= status < 300 else {"answer": answer[:300].decode(
                              errors="replace")})}

        threads = []
        first = time.monotonic()
        for i, rows in enumerate(requests):
            if stop.wait(max(first + i * interval - time.monotonic(), 0)):
                break
            threads.append(threading.Thread(target=send, args=(i, rows)))
            threads[-1].start()
        for thread in threads:
            thread.join()
        return _summary(results[:len(threads)])

    # ---------------------------------------------------------------- reading the database

    def _match_run(self, request_pk: int, *, started: bool = False, done: bool = False) -> dict | None:
        row = self.db.execute(
            "SELECT r.status, r.started_at, r.finished_at, r.attempts, r.last_error FROM events_handlerrun r "
            "JOIN events_event e ON e.id = r.event_id WHERE e.name = 'request.received' AND r.handler = ? "
            "AND json_extract(e.payload, '$.request') = ?", [MATCH_HANDLER, request_pk]).fetchone()
        if row is None:
            return None
        run = dict(zip(("status", "started_at", "finished_at", "attempts", "last_error"), row, strict=True))
        if started and run["started_at"] is None:
            return None
        if done and run["status"] in ("pending", "running"):
            return None
        return run

    def _open_runs(self) -> int:
        return self.db.execute("SELECT count(*) FROM events_handlerrun WHERE status IN ('pending', 'running')"
                               ).fetchone()[0]

    def _wait(self, probe, what: str, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise Failed(f"{shlex.join(proc.args[:3])} exited {proc.returncode} while waiting for {what} "
                                 f"(logs in {self.logs})")
            try:
                found = probe()
            except sqlite3.OperationalError:  # a table not there yet
                found = None
            if found:
                return found
            time.sleep(0.05)
        raise Failed(f"no sign of {what} after {timeout:.0f} s")


def _summary(posts: list[dict]) -> dict:
    times = sorted(p["seconds"] for p in posts) or [0.0]
    return {"posts": posts, "max_s": times[-1], "p50_s": statistics.median(times),
            "p95_s": float(np.percentile(times, 95)),
            "failures": sum(1 for p in posts if not 200 <= p["status"] < 300)}


def _identifiers(release_dir: Path, n: int, small_count: int, small_size: int, seed: int):
    """The big request (n identifiers: SHARES of the release's keys, URLs, md5s and PDQ hashes, the rest made
    up) and small_count small ones (keys and md5s of other rows), all distinct."""
    rng = np.random.default_rng([seed, 0x534C])
    paths = sorted(release_dir.glob("*.parquet"))
    columns = ["key", "url", "md5", "pdq", "status"]
    need = n + small_count * small_size
    picked = []
    rows_seen = 0
    for path in rng.permutation(paths):
        table = pq.read_table(path, columns=columns)
        table = table.filter(pc.equal(table["status"], "success"))
        picked.append(table)
        rows_seen += table.num_rows
        if rows_seen >= 2 * need:
            break
    if rows_seen < need:
        raise Failed(f"the release has {rows_seen:,} successful rows; the requests need {need:,}")
    rows = pa.concat_tables(picked)
    order = rng.permutation(rows.num_rows)
    take = {c: rows[c].to_numpy(zero_copy_only=False)[order] for c in ("key", "url", "md5", "pdq")}
    big, at = [], 0
    for kind, share in SHARES.items():
        count = int(n * share)
        if kind == "pdq_near":
            for value in take["pdq"][at:at + count]:
                flips = rng.choice(256, size=int(rng.integers(1, MAX_NEAR_FLIPS + 1)), replace=False)
                big.append(("pdq", f"{int(value, 16) ^ sum(1 << int(b) for b in flips):064x}"))
        else:
            big += [(kind, v) for v in take[kind][at:at + count]]
        at += count
    misses = n - len(big)
    for i in range(misses):
        kind = ("key", "url", "md5")[i % 3]
        big.append((kind, f"nohit-{i:09d}" if kind == "key" else f"https://nohit.example.org/{i}.jpg"
                    if kind == "url" else f"{(1 << 127) + i:032x}"))
    small = []
    for _ in range(small_count):
        small.append([("key" if j % 2 else "md5", (take["key"] if j % 2 else take["md5"])[at + j])
                      for j in range(small_size)])
        at += small_size
    return big, small


def _table(report: dict, args) -> str:
    load, base, match = report["under_load"], report["baseline"], report["match"]
    ratio = load["max_s"] / base["max_s"]
    lines = [
        f"{report['rows']:,}-row release; one request of {report['identifiers']:,} identifiers; "
        f"{args.small} POSTs of {args.small_size} identifiers (half from the match run's start, half from its "
        f"first match rows), one every {args.interval} s, each from its own thread; {report['web']}; "
        f"{report['worker']}; SQLite (WAL) and the folder broker.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| big submission ({report['identifiers']:,} identifiers, {report['big_body_bytes'] / 2**20:.1f} MiB CSV), "
        f"answered {report['big_submit_status']} | {report['big_submit_seconds']:.2f} s |",
        f"| matching it: handler run started → finished ({match['matches']:,} matches) | "
        f"{match['handler_seconds']:.2f} s |",
        f"| matching it: request created → matched_at | {match['created_to_matched_seconds']:.2f} s |",
        f"| of which writing the matches (first to last match row), from {match['writes_from_s']:.1f} s into the "
        f"run | {match['writes_seconds']:.2f} s |",
        f"| {args.small} POSTs under load: max / p50 / p95 | **{load['max_s']:.3f} s** / {load['p50_s']:.3f} s / "
        f"{load['p95_s']:.3f} s |",
        f"| max of the half sent while it searched / of the half sent from its first match rows | "
        f"{load['search_half_max_s']:.3f} s / {load['write_half_max_s']:.3f} s |",
        f"| POSTs under load: not 2xx | **{load['failures']}** |",
        f"| POSTs under load sent while the match ran / while it wrote its matches | "
        f"{load['sent_while_matching']} / {load['sent_while_writing']} of {len(load['posts'])} |",
        f"| baseline ({args.small} POSTs, nothing else running): max / p50 | {base['max_s']:.3f} s / "
        f"{base['p50_s']:.3f} s |",
        f"| max under load / baseline max | **{ratio:.1f}x** |",
        f"| for the record: {len(report['during_submit']['posts'])} POSTs sent while the big one was being "
        f"logged: max / p50 | {report['during_submit']['max_s']:.3f} s / {report['during_submit']['p50_s']:.3f} s |",
        f"| acceptance (every POST under load answered 2xx within {args.limit:g} s, all during the match) | "
        f"{'met' if report['met'] else 'NOT met'} |",
    ]
    return "\n".join(lines)


def _utc(text: str) -> datetime.datetime:
    value = datetime.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


def _step(title: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {title}", file=sys.stderr, flush=True)


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
