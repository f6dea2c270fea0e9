"""Loaded first (`-p tests.parallel` in pytest.ini), before Django reads its settings: under pytest-xdist each
worker process gets a DATA_DIR of its own (SQLite database, folder queue, keys, mail) and, when the cache is on
Redis, a Redis database of its own, since tests clear the cache. Workers, queues and PostgreSQL test databases
(suffixed by pytest-django) are per test or per process already."""
import os
import re
from pathlib import Path

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")

if WORKER:
    number = int(WORKER.removeprefix("gw"))
    if os.environ.get("DATA_DIR"):
        os.environ["DATA_DIR"] = str(Path(os.environ["DATA_DIR"]) / WORKER)
    cache = os.environ.get("CACHE_URL", "")
    match = re.fullmatch(r"(redis://[^/]+)/(\d+)", cache)
    if match:
        database = int(match.group(2)) + number
        if database > 15:
            raise SystemExit(f"CACHE_URL={cache}: {WORKER} would need Redis database {database}; run fewer workers")
        os.environ["CACHE_URL"] = f"{match.group(1)}/{database}"
