"""Helpers of the sync tests: running the command against conftest.py's local host, and reading the result."""

import json

import pyarrow.parquet as pq

from mirror_client.apply import member_key
from mirror_client.cli import main
from mirror_client.state import STATE_DIR, STATE_FILE

TOKEN = "td_mirror_testtoken"
V1 = {"00000": ["000001", "000003"], "00002": ["000027"]}


def args_for(host, data_dir, *extra, token=TOKEN):
    return ["sync", "--server", host.url, "--token", token, "--dataset", "demo", "--data", str(data_dir), *extra]


def run(capsys, host, data_dir, *extra, **kw):
    status = main(args_for(host, data_dir, *extra, **kw))
    out, err = capsys.readouterr()
    return status, out, err


def synced(capsys, host, data_dir, *blocklists):
    """Publish these versions of demo/2026-11 and sync them once, successfully."""
    host.add_release("demo", "2026-11", data_dir)
    for blocked in blocklists:
        host.publish("demo", "2026-11", blocked)
    status, _, err = run(capsys, host, data_dir)
    assert status == 0, err


def state_of(data_dir):
    return json.loads((data_dir / STATE_DIR / STATE_FILE).read_text())


def keys_in(data_dir, shard):
    return set(pq.read_table(data_dir / f"{shard}.parquet").column("key").to_pylist())


def tar_keys(read_tar, data_dir, shard):
    return {member_key(m[0]) for m in read_tar(data_dir / f"{shard}.tar")}


def fetched(host, suffix):
    return [r["path"] for r in host.requests if r["path"].endswith(suffix)]
