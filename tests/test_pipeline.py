"""The whole path, as its users drive it: commands on the host, the mirror client over HTTP."""
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from apps.datasets import synthetic
from apps.mirrors.models import Acknowledgement
from apps.removals.models import RemovalRequest, Status
from tests.support.events import run_pending

ROOT = Path(__file__).resolve().parent.parent


def _sync(live_server, token: str, data: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mirror_client", "sync", "--server", live_server.url, "--token", token,
         "--dataset", "demo", "--data", str(data)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


def _local_keys(data: Path) -> tuple[set[str], set[str]]:
    parquet_keys, tar_keys = set(), set()
    for parquet in data.glob("*.parquet"):
        parquet_keys |= set(pq.read_table(parquet, columns=["key"]).column("key").to_pylist())
    for tar in data.glob("*.tar"):
        with tarfile.open(tar) as archive:
            tar_keys |= {Path(m.name).name.split(".", 1)[0] for m in archive.getmembers()}
    return parquet_keys, tar_keys


@pytest.mark.django_db(transaction=True)
def test_it_takes_a_removal_from_request_to_every_mirror(
        run_command, live_server, release_on_disk, release_copy, tmp_path):
    run_command("import_release", "demo", "2026-11", str(release_on_disk.path), "--no-progress")
    out, _ = run_command("create_mirror", "lab-copy", "--subscribe", "demo")
    token = out.strip().splitlines()[-1]

    removals = synthetic.make_removals(release_on_disk.data, seed=21, n_sha1=0)
    assert {r.kind for r in removals} >= {"url", "key", "md5", "sha256", "pdq"}
    csv_path = synthetic.write_removals_csv(tmp_path / "hotline.csv", removals)
    out, _ = run_command("import_removals", str(csv_path), "--dataset", "demo", "--category", "csam", "--source",
                         "IWF", "--approve")
    tracking_id = out.strip().splitlines()[-1]
    blocked = {k for r in removals for k in r.keys}
    assert blocked

    before_parquet, before_tar = _local_keys(release_copy)
    first = _sync(live_server, token, release_copy)
    assert first.returncode == 0, first.stderr
    after_parquet, after_tar = _local_keys(release_copy)
    assert not (after_parquet | after_tar) & blocked
    assert after_parquet == before_parquet - blocked
    assert after_tar == before_tar - blocked
    assert Acknowledgement.objects.get().status == "applied"
    run_pending()  # what a worker does on mirror.acknowledged
    assert RemovalRequest.objects.get(tracking_id=tracking_id).status == Status.COMPLETED

    again = _sync(live_server, token, release_copy)
    assert again.returncode == 0, again.stderr
    assert "up to date" in (again.stdout + again.stderr).lower()

    # A second removal: version 2, chained to version 1, applied on the next sync.
    survivor = sorted(after_parquet & {s.key for s in release_on_disk.data.successful()})[0]
    second_csv = synthetic.write_removals_csv(tmp_path / "dmca.csv", [("key", survivor)])
    run_command("import_removals", str(second_csv), "--dataset", "demo", "--category", "copyright", "--approve")
    third = _sync(live_server, token, release_copy)
    assert third.returncode == 0, third.stderr
    assert survivor not in _local_keys(release_copy)[0]

    out, _ = run_command("mirror_status", "--json")
    [mirror] = json.loads(out)
    [state] = mirror["releases"]
    assert (state["latest_published"], state["latest_applied"], state["lag"]) == (2, 2, 0)
    assert [a["version"] for a in state["acknowledged"]] == [1, 2]


@pytest.mark.django_db(transaction=True)
def test_it_tells_a_mirror_clearly_when_its_token_is_wrong(live_server, release_copy):
    result = _sync(live_server, "td_mirror_not-a-real-token", release_copy)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "401" in result.stderr and "unknown or revoked mirror token" in result.stderr
