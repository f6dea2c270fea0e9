"""The verify command: blocked keys left in the local parquet and tar files, offline and against the server."""

import shutil

from mirror_client.cli import main
from mirror_client.state import STATE_DIR

TOKEN = "td_mirror_testtoken"
V1 = {"00000": ["000001", "000003"], "00002": ["000027"]}


def sync(capsys, host, data_dir):
    status = main(["sync", "--server", host.url, "--token", TOKEN, "--dataset", "demo", "--data", str(data_dir)])
    capsys.readouterr()
    return status


def verify(capsys, data_dir, *extra):
    status = main(["verify", "--data", str(data_dir), *extra])
    out, err = capsys.readouterr()
    return status, out, err


def online(host):
    return ("--server", host.url, "--token", TOKEN, "--dataset", "demo")


def test_it_finds_a_synced_copy_clean_offline(host, data_dir, capsys):
    host.add_release("demo", "2026-11", data_dir)
    host.publish("demo", "2026-11", V1)
    assert sync(capsys, host, data_dir) == 0
    host.server.shutdown()  # offline: the server is gone

    status, out, err = verify(capsys, data_dir)

    assert status == 0, err
    assert "00000: clean (2 blocked keys absent)" in out
    assert "00001: clean (0 blocked keys absent)" in out
    assert "demo/2026-11 v1 (applied, kept locally): 3 local shards checked, clean" in out


def test_it_names_blocked_keys_put_back_per_shard_and_file(host, data_dir, capsys, tmp_path, make_shard):
    pristine = tmp_path / "pristine"
    pristine.mkdir()
    make_shard(pristine, 0, failed=(9,))
    host.add_release("demo", "2026-11", data_dir)
    host.publish("demo", "2026-11", V1)
    assert sync(capsys, host, data_dir) == 0
    shutil.copy(pristine / "00000.tar", data_dir / "00000.tar")  # someone restored the old tar

    status, out, err = verify(capsys, data_dir)

    assert status == 1
    assert "00000: 2 blocked keys still present: parquet clean; tar 000001, 000003" in out
    assert "00002: clean (1 blocked key absent)" in out
    assert err == "demo/2026-11 v1 (applied, kept locally): 3 local shards checked, 2 blocked keys still present " \
                  "in 1 shards\n"


def test_it_checks_against_the_latest_version_on_the_server(host, data_dir, capsys):
    host.add_release("demo", "2026-11", data_dir)
    host.publish("demo", "2026-11", V1)
    assert sync(capsys, host, data_dir) == 0
    host.publish("demo", "2026-11", {**V1, "00001": ["000011"]})
    host.releases["demo"][0]["latest_version"] = 2

    status, out, err = verify(capsys, data_dir, *online(host), "--quiet")

    assert status == 1
    assert out == "00001: 1 blocked key still present: parquet 000011; tar 000011\n"
    assert "demo/2026-11 v2 (latest on the server)" in err

    assert sync(capsys, host, data_dir) == 0
    assert verify(capsys, data_dir, *online(host))[0] == 0


def test_it_verifies_a_never_synced_copy_against_the_server(host, data_dir, capsys):
    host.add_release("demo", "2026-11", data_dir)
    host.publish("demo", "2026-11", V1)
    host.releases["demo"][0]["latest_version"] = 1

    status, out, err = verify(capsys, data_dir, *online(host))

    assert status == 1
    assert "00000: 2 blocked keys still present: parquet 000001, 000003; tar 000001, 000003" in out
    assert not (data_dir / STATE_DIR).exists()  # verify changes nothing


def test_it_says_what_to_do_without_a_kept_blocklist(data_dir, capsys):
    status, _, err = verify(capsys, data_dir)

    assert status == 1
    assert err == (f"error: {data_dir} has no applied blocklist in .takedown/; run sync first, or verify against "
                   f"the server with --server and --token\n")


def test_it_refuses_a_tampered_kept_manifest(host, data_dir, capsys):
    host.add_release("demo", "2026-11", data_dir)
    host.publish("demo", "2026-11", V1)
    assert sync(capsys, host, data_dir) == 0
    sig = data_dir / STATE_DIR / "manifest.json.sig"
    sig.write_text(host.signer.sign(b"something else") + "\n")

    status, _, err = verify(capsys, data_dir)

    assert status == 1
    assert err.startswith("error: signature of demo/2026-11 v1 manifest does not verify")
