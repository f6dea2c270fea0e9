"""Signatures, hash chain, rollback and shard file checks with real Ed25519 keys."""

import base64
import hashlib
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mirror_client import check_chain, check_identity, key_id_for, verify_manifest, verify_shard_file
from mirror_client.errors import RollbackError, UnknownKeyError, VerificationError

BLOCKED = {"00000": ["000001", "000003"], "00002": ["000027"]}


def keys_of(*signers):
    return {s.key_id: s.raw for s in signers}


def test_it_computes_the_key_id_from_the_raw_key(signer):
    assert key_id_for(signer.raw) == hashlib.sha256(signer.raw).hexdigest()[:16]
    assert len(signer.key_id) == 16


def test_it_accepts_a_good_signature(signer, make_version):
    v = make_version("demo", "2026-11", 1, BLOCKED, signer, None)

    manifest = verify_manifest(v["raw"], v["sig"], keys_of(signer))

    assert manifest["version"] == 1
    assert manifest["total_keys"] == 3


def test_it_refuses_a_tampered_manifest(signer, make_version):
    v = make_version("demo", "2026-11", 3, BLOCKED, signer, "a" * 64)
    tampered = v["raw"].replace(b'"total_keys": 3', b'"total_keys": 3 ')

    with pytest.raises(VerificationError) as err:
        verify_manifest(tampered, v["sig"], keys_of(signer))

    assert str(err.value) == f"signature of demo/2026-11 v3 manifest does not verify with key {signer.key_id}"


def test_it_refuses_a_signature_by_another_key_under_the_trusted_id(signer, make_signer, make_version):
    other = make_signer()
    v = make_version("demo", "2026-11", 1, BLOCKED, other, None, key_id=signer.key_id)

    with pytest.raises(VerificationError, match="does not verify"):
        verify_manifest(v["raw"], v["sig"], keys_of(signer))


def test_it_refuses_an_unknown_key(signer, make_version):
    v = make_version("demo", "2026-11", 1, BLOCKED, signer, None)

    with pytest.raises(UnknownKeyError, match=f"signed with unknown key {signer.key_id}"):
        verify_manifest(v["raw"], v["sig"], {"0123456789abcdef": b"\x01" * 32})


def test_it_refuses_a_signature_that_is_not_base64(signer, make_version):
    v = make_version("demo", "2026-11", 1, BLOCKED, signer, None)

    with pytest.raises(VerificationError, match="not valid base64"):
        verify_manifest(v["raw"], "not*base64", keys_of(signer))


def test_it_refuses_a_signed_but_malformed_manifest(signer, make_version):
    v = make_version("demo", "2026-11", 1, BLOCKED, signer, None, total_keys=4)

    with pytest.raises(VerificationError, match="malformed: shard counts add up to 3, total_keys says 4"):
        verify_manifest(v["raw"], v["sig"], keys_of(signer))


def chain_of(signer, make_version, count):
    versions, previous = [], None
    for number in range(1, count + 1):
        v = make_version("demo", "2026-11", number, BLOCKED, signer, previous)
        versions.append(v)
        previous = v["sha256"]
    return versions


def test_it_accepts_an_intact_chain(signer, make_version):
    v1, v2, v3 = chain_of(signer, make_version, 3)

    check_chain([(v["manifest"], v["sha256"]) for v in (v1, v2, v3)])
    check_chain([(v3["manifest"], v3["sha256"])], applied=(2, v2["sha256"]))


def test_it_refuses_a_broken_chain_naming_both_versions(signer, make_version):
    v1, v2, _ = chain_of(signer, make_version, 3)
    forged = make_version("demo", "2026-11", 3, BLOCKED, signer, "b" * 64)

    with pytest.raises(VerificationError, match=r"hash chain broken between demo/2026-11 v2 and v3") as err:
        check_chain([(v["manifest"], v["sha256"]) for v in (v1, v2, forged)])

    assert err.value.version == 3


def test_it_refuses_a_chain_that_does_not_start_at_the_applied_version(signer, make_version):
    v1, v2, v3 = chain_of(signer, make_version, 3)

    with pytest.raises(VerificationError, match=r"between demo/2026-11 v2 and v3"):
        check_chain([(v3["manifest"], v3["sha256"])], applied=(2, v1["sha256"]))
    with pytest.raises(VerificationError, match=r"skips from v1 to v3"):
        check_chain([(v3["manifest"], v3["sha256"])], applied=(1, v1["sha256"]))


def test_it_refuses_a_first_version_with_a_previous_manifest(signer, make_version):
    v1 = make_version("demo", "2026-11", 1, BLOCKED, signer, "c" * 64)

    with pytest.raises(VerificationError, match="v1 claims a previous manifest"):
        check_chain([(v1["manifest"], v1["sha256"])])


def test_it_refuses_a_rollback(signer, make_version):
    old = make_version("demo", "2026-11", 2, BLOCKED, signer, "d" * 64)["manifest"]

    with pytest.raises(RollbackError, match=r"offered demo/2026-11 v2 \(asked for v4\), not newer than the applied v3"):
        check_identity(old, "demo", "2026-11", 4, applied_version=3)


def test_it_refuses_a_manifest_of_another_version_or_release(signer, make_version):
    manifest = make_version("demo", "2026-11", 2, BLOCKED, signer, "d" * 64)["manifest"]

    check_identity(manifest, "demo", "2026-11", 2, applied_version=1)
    with pytest.raises(VerificationError, match="served as demo/2026-11 v3 says it is v2"):
        check_identity(manifest, "demo", "2026-11", 3)
    with pytest.raises(VerificationError, match="is for demo/2026-11"):
        check_identity(manifest, "demo", "2026-12", 2)


def test_it_accepts_a_shard_file_matching_its_entry(signer, make_version):
    v = make_version("demo", "2026-11", 1, BLOCKED, signer, None)
    entry = v["manifest"]["shards"][0]

    assert verify_shard_file(v["files"]["00000.parquet"], entry) == {"000001", "000003"}


def test_it_refuses_a_shard_file_with_another_digest(signer, make_version):
    v = make_version("demo", "2026-11", 1, BLOCKED, signer, None)
    entry = v["manifest"]["shards"][0]

    with pytest.raises(VerificationError, match=r"blocklist file 00000\.parquet of demo/2026-11 v1: sha256 \w+ "
                                                r"does not match the manifest's"):
        verify_shard_file(v["files"]["00002.parquet"], entry, "demo/2026-11 v1")


def parquet_bytes(table):
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def entry_for(data, count):
    return {"shard": "00000", "file": "00000.parquet", "count": count, "sha256": hashlib.sha256(data).hexdigest()}


def test_it_refuses_a_shard_file_with_another_count():
    data = parquet_bytes(pa.table({"key": ["000001", "000002"]}))

    with pytest.raises(VerificationError, match="holds 2 keys, the manifest says 3"):
        verify_shard_file(data, entry_for(data, 3))


def test_it_refuses_a_shard_file_with_other_columns():
    data = parquet_bytes(pa.table({"key": ["000001"], "url": ["https://x"]}))

    with pytest.raises(VerificationError, match="single string column 'key'"):
        verify_shard_file(data, entry_for(data, 1))


def test_it_refuses_a_shard_file_that_is_not_parquet():
    data = base64.b64encode(b"hello")

    with pytest.raises(VerificationError, match="not a readable parquet file"):
        verify_shard_file(data, entry_for(data, 1))


def test_it_names_the_refusals(signer, make_version):
    from mirror_client.errors import ChainError, ExpiredError
    from mirror_client.verify import check_expiry

    v1 = make_version("demo", "2026-11", 1, BLOCKED, signer, None)
    v2 = make_version("demo", "2026-11", 2, BLOCKED, signer, "b" * 64)
    with pytest.raises(ChainError):
        check_chain([(v2["manifest"], v2["sha256"])], applied=(1, v1["sha256"]))
    old = make_version("demo", "2026-11", 1, BLOCKED, signer, None, expires_at="2026-01-01T00:00:00Z")["manifest"]
    with pytest.raises(ExpiredError, match=r"^demo/2026-11 v1 expired at 2026-01-01T00:00:00Z; refusing"):
        check_expiry(old)


def test_it_follows_a_chain_of_signed_rotations(make_signer, make_rotation):
    from mirror_client import trust_rotations

    a, b, c, stranger = make_signer(), make_signer(), make_signer(), make_signer()
    rotations = [make_rotation(b, c), make_rotation(a, b)]

    assert trust_rotations(keys_of(a), rotations, c.key_id) == {b.key_id: b.raw, c.key_id: c.raw}
    assert trust_rotations(keys_of(stranger), rotations, c.key_id) == {}
    tampered = [dict(make_rotation(a, b), new_public_key=stranger.b64, new_key_id=stranger.key_id)]
    assert trust_rotations(keys_of(a), tampered, stranger.key_id) == {}


def test_it_refuses_a_delta_that_contradicts_its_manifest(signer, make_version):
    v1 = make_version("demo", "2026-11", 1, BLOCKED, signer, None)
    v2 = make_version("demo", "2026-11", 2, {**BLOCKED, "00001": ["000011"]}, signer, v1["sha256"], base=v1)
    assert verify_manifest(v2["raw"], v2["sig"], keys_of(signer))["delta"]["added_keys"] == 1

    bad = dict(v2["manifest"]["delta"], added_keys=5)
    forged = make_version("demo", "2026-11", 2, BLOCKED, signer, v1["sha256"], delta=bad)
    with pytest.raises(VerificationError, match="delta added counts add up to 1, added_keys says 5"):
        verify_manifest(forged["raw"], forged["sig"], keys_of(signer))
