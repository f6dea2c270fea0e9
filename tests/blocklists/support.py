"""Helpers shared by the blocklist tests."""
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from apps.blocklists.selectors import blocklist_read
from tests.support.removals import approve_and_publish

ROOT = Path(__file__).resolve().parents[2]


def publish(operator, samples, category="copyright"):
    """A request naming these samples by key, approved and published; returns it refreshed."""
    return approve_and_publish(operator, [s.key for s in samples], category)[0]


def manifest(version) -> dict:
    return json.loads(blocklist_read(version=version, name="manifest.json"))


def file_keys(version, name) -> list[str]:
    return pq.read_table(io.BytesIO(blocklist_read(version=version, name=name))).column("key").to_pylist()


def manage(tmp_path, *args, **env) -> subprocess.CompletedProcess:
    """`manage.py ARGS` in a fresh process with these environment variables (settings are read at start-up)."""
    environment = {**os.environ, "DATA_DIR": str(tmp_path), **env}
    environment.pop("DATABASE_URL", None)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True,
                          text=True, timeout=60)


def refused_at_start_up(tmp_path, message: str, **env) -> None:
    result = manage(tmp_path, "check", **env)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
