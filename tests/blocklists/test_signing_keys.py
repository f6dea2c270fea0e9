import base64
import json
import os
import stat
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.blocklists import signing
from apps.blocklists.selectors import blocklist_read
from apps.core.errors import TakedownError
from apps.core.identifiers import ParsedIdentifier
from apps.removals.services import request_approve, request_create
from tests.support.removals import publish
from tests.support.workers import ROOT, database_url

URL = "/.well-known/takedown/signing-keys.json"


@pytest.fixture(autouse=True)
def keyring_dir(settings, tmp_path):
    """A data folder and keyring of this test's own (the session's shared keyring is left alone)."""
    settings.DATA_DIR = tmp_path / "data"
    settings.BLOCKLIST_KEYRING_DIR = tmp_path / "data" / "keys"
    settings.BLOCKLIST_SIGNING_KEY = ""
    return settings.BLOCKLIST_KEYRING_DIR


def pem_of(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def verifies(raw: bytes, signature_b64: str, data: bytes) -> bool:
    Ed25519PublicKey.from_public_bytes(raw).verify(base64.b64decode(signature_b64), data)
    return True


def test_it_creates_a_keyring_with_one_active_key_on_first_use(keyring_dir):
    signature = signing.sign(b"data")

    assert verifies(signing.public_key_bytes(), signature, b"data")
    kid = signing.key_id()
    assert stat.S_IMODE((keyring_dir / f"{kid}.pem").stat().st_mode) == 0o600
    stored = json.loads((keyring_dir / "keyring.json").read_text())
    assert stored["format"] == "takedown.keyring/1" and stored["rotations"] == []
    [key] = signing.public_keys_document()["keys"]
    assert key == {"key_id": kid, "algorithm": "ed25519",
                   "public_key": base64.b64encode(signing.public_key_bytes()).decode(), "status": "active",
                   "created_at": key["created_at"], "retired_at": None}
    assert not list(keyring_dir.glob(".keyring-*"))  # no temporary file left behind


def test_it_keeps_the_key_of_the_pre_keyring_key_file(settings, keyring_dir):
    old = Ed25519PrivateKey.generate()
    keyring_dir.mkdir(parents=True)
    (keyring_dir / "blocklist-ed25519.pem").write_bytes(pem_of(old))
    os.utime(keyring_dir / "blocklist-ed25519.pem", (1767225600, 1767225600))

    assert signing.public_key_bytes() == signing.raw_public_key(old)
    [key] = signing.public_keys_document()["keys"]
    assert key["created_at"] == "2026-01-01T00:00:00Z"  # when the old key file was written
    assert (keyring_dir / f"{key['key_id']}.pem").read_bytes() == pem_of(old)


@pytest.mark.parametrize("form", ["pem text", "path"])
def test_it_takes_blocklist_signing_key_as_the_first_key(settings, keyring_dir, tmp_path, form):
    configured, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    keyring_dir.mkdir(parents=True)
    (keyring_dir / "blocklist-ed25519.pem").write_bytes(pem_of(other))  # the setting wins, as before
    path = tmp_path / "signing.pem"
    path.write_bytes(pem_of(configured))
    settings.BLOCKLIST_SIGNING_KEY = pem_of(configured).decode() if form == "pem text" else str(path)

    assert signing.key_id() == signing.key_id_for(signing.raw_public_key(configured))


def test_it_refuses_a_signing_key_setting_that_is_not_in_the_keyring(settings, keyring_dir):
    first = signing.key_id()
    stranger = Ed25519PrivateKey.generate()
    settings.BLOCKLIST_SIGNING_KEY = pem_of(stranger).decode()

    with pytest.raises(ImproperlyConfigured, match=f"BLOCKLIST_SIGNING_KEY is key "
                                                   f"{signing.key_id_for(signing.raw_public_key(stranger))}, "
                                                   f"which is not in the keyring at {keyring_dir} "
                                                   f"\\(active key {first}\\)"):
        signing.sign(b"data")


def test_it_names_a_damaged_keyring(keyring_dir):
    signing.key_id()
    (keyring_dir / "keyring.json").write_text('{"keys": []}')
    with pytest.raises(ImproperlyConfigured, match=f"{keyring_dir / 'keyring.json'} is not a keyring"):
        signing.key_id()


def test_it_rotates_the_key_with_a_statement_signed_by_the_old_key(db, run_command, keyring_dir):
    old_id, old_raw = signing.key_id(), signing.public_key_bytes()

    out, _ = run_command("rotate_signing_key", "--reason", "yearly")

    new_id = signing.key_id()  # no cache to clear: the keyring file changed
    assert new_id != old_id
    new_b64 = base64.b64encode(signing.public_key_bytes()).decode()
    assert out == (f"Retired key {old_id}; new manifests are signed with key {new_id}.\n"
                   f"New key id: {new_id}\nNew public key: {new_b64}\n")
    document = signing.public_keys_document()
    assert [(k["key_id"], k["status"]) for k in document["keys"]] == [(new_id, "active"), (old_id, "retired")]
    [rotation] = document["rotations"]
    assert document["keys"][1]["retired_at"] == rotation["at"] == document["keys"][0]["created_at"]
    assert rotation == {"old_key_id": old_id, "new_key_id": new_id, "new_public_key": new_b64,
                        "at": rotation["at"], "signature": rotation["signature"]}
    statement = json.dumps({"old_key_id": old_id, "new_key_id": new_id, "new_public_key": new_b64,
                            "at": rotation["at"]}, sort_keys=True, separators=(",", ":")).encode()
    assert verifies(old_raw, rotation["signature"], statement)
    assert stat.S_IMODE((keyring_dir / f"{new_id}.pem").stat().st_mode) == 0o600

    event = AuditEvent.objects.get(action="signing_key.rotated")
    assert event.object_type == "" and event.actor_label.startswith("cli:")
    assert event.before == {"key_id": old_id}
    assert event.after == {"key_id": new_id, "public_key": new_b64, "reason": "yearly"}

    listed, _ = run_command("rotate_signing_key", "--list")
    lines = listed.splitlines()
    assert lines[0].startswith(f"{old_id}  retired  created ") and f"retired {rotation['at']}" in lines[0]
    assert lines[1].startswith(f"{new_id}  active   created ") and lines[1].endswith(new_b64)


def test_it_does_not_sign_data_that_names_a_key_rotated_away_meanwhile(db, run_command):
    named = signing.key_id()
    assert verifies(signing.public_key_bytes(), signing.sign(b"data", expected_key_id=named), b"data")
    run_command("rotate_signing_key")

    with pytest.raises(TakedownError, match=f"the signing key changed from {named} to {signing.key_id()} while "
                                            f"signing \\(a rotation\\): try again"):
        signing.sign(b"data", expected_key_id=named)


def test_it_says_when_the_keyring_is_not_writable(db, run_command, settings, tmp_path):
    (tmp_path / "a-file").write_text("")
    settings.BLOCKLIST_KEYRING_DIR = tmp_path / "a-file" / "keys"

    with pytest.raises(CommandError, match=f"Cannot rotate the signing key: the keyring folder "
                                           f"{tmp_path / 'a-file' / 'keys'} \\(BLOCKLIST_KEYRING_DIR\\) is not "
                                           f"writable: Not a directory. Run the command as the user"):
        run_command("rotate_signing_key")
    assert not AuditEvent.objects.exists()


def test_it_serves_the_keys_and_rotations_for_a_short_time(db, run_command):
    first = signing.key_id()
    run_command("rotate_signing_key")

    response = APIClient().get(URL)

    assert response["Cache-Control"] == "public, max-age=60"
    assert response.json() == signing.public_keys_document()
    assert [k["key_id"] for k in response.json()["keys"]] == [signing.key_id(), first]


def _publish(operator, sample):
    request = request_create(category="copyright", actor=operator,
                             identifiers=[ParsedIdentifier(line=2, kind="key", value=sample.key)])
    request_approve(request=request, actor=operator)
    [version] = publish(request)
    return blocklist_read(version=version, name="manifest.json"), blocklist_read(version=version,
                                                                                 name="manifest.json.sig")


def test_manifests_from_before_and_after_a_rotation_verify_with_the_published_keys(
        release, release_on_disk, operator, run_command):
    samples = release_on_disk.data.successful()
    old_manifest, old_signature = _publish(operator, samples[0])
    run_command("rotate_signing_key")
    new_manifest, new_signature = _publish(operator, samples[1])

    document = APIClient().get(URL).json()
    keys = {k["key_id"]: (k["status"], base64.b64decode(k["public_key"])) for k in document["keys"]}
    old_id, new_id = json.loads(old_manifest)["key_id"], json.loads(new_manifest)["key_id"]
    assert keys[old_id][0] == "retired" and keys[new_id][0] == "active"
    assert verifies(keys[old_id][1], old_signature.decode().strip(), old_manifest)
    assert verifies(keys[new_id][1], new_signature.decode().strip(), new_manifest)
    # A mirror that trusts only the old key reaches the new one through the statement the old key signed.
    assert signing.verify_rotation_chain(rotations=document["rotations"], trusted={old_id: keys[old_id][1]},
                                         target_key_id=new_id) == {new_id: keys[new_id][1]}


def test_concurrent_rotations_in_other_processes_chain_and_this_process_follows(transactional_db, keyring_dir,
                                                                               settings):
    first = signing.key_id()  # this process has read (and cached) the keyring
    env = {**os.environ, "DATABASE_URL": database_url(), "DATA_DIR": str(settings.DATA_DIR),
           "BLOCKLIST_KEYRING_DIR": str(keyring_dir), "BLOCKLIST_SIGNING_KEY": ""}
    command = [sys.executable, "manage.py", "rotate_signing_key"]
    runs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    for run in runs:
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0, err

    document = signing.public_keys_document()
    assert [k["status"] for k in document["keys"]] == ["active", "retired", "retired"]
    a, b = document["rotations"]
    assert (a["old_key_id"], a["new_key_id"], b["old_key_id"]) == (first, b["old_key_id"], a["new_key_id"])
    assert signing.key_id() == b["new_key_id"] == document["keys"][0]["key_id"]
    assert AuditEvent.objects.filter(action="signing_key.rotated").count() == 2


class Keys:
    """Keys and statements made here, for the chain rule."""

    def __init__(self, count):
        self.private = [Ed25519PrivateKey.generate() for _ in range(count)]
        self.raw = [signing.raw_public_key(k) for k in self.private]
        self.id = [signing.key_id_for(r) for r in self.raw]

    def statement(self, old, new, *, signer=None, **changes):
        body = {"old_key_id": self.id[old], "new_key_id": self.id[new],
                "new_public_key": base64.b64encode(self.raw[new]).decode(), "at": "2026-11-01T00:00:00Z", **changes}
        key = self.private[old if signer is None else signer]
        return {**body, "signature": base64.b64encode(key.sign(signing.rotation_statement_bytes(body))).decode()}


def test_the_chain_rule_follows_valid_statements_from_a_trusted_key():
    k = Keys(4)
    rotations = [k.statement(2, 3), k.statement(0, 1), k.statement(1, 2)]

    assert signing.verify_rotation_chain(rotations=rotations, trusted={k.id[0]: k.raw[0]}, target_key_id=k.id[3]) \
        == {k.id[1]: k.raw[1], k.id[2]: k.raw[2], k.id[3]: k.raw[3]}
    assert signing.verify_rotation_chain(rotations=rotations, trusted={k.id[2]: k.raw[2]}, target_key_id=k.id[3]) \
        == {k.id[3]: k.raw[3]}
    assert signing.verify_rotation_chain(rotations=[], trusted={k.id[0]: k.raw[0]}, target_key_id=k.id[0]) == {}
    with pytest.raises(signing.UnknownKeyError, match=f"to key {k.id[0]}"):  # chains only go forward
        signing.verify_rotation_chain(rotations=rotations, trusted={k.id[3]: k.raw[3]}, target_key_id=k.id[0])


@pytest.mark.parametrize("broken", ["signed by the new key", "signature of other bytes", "key id of another key",
                                    "not base64", "field missing"])
def test_the_chain_rule_skips_a_statement_that_does_not_hold(broken):
    k = Keys(3)
    bad = {
        "signed by the new key": k.statement(0, 1, signer=1),
        "signature of other bytes": {**k.statement(0, 1), "at": "2026-12-01T00:00:00Z"},
        "key id of another key": k.statement(0, 1, new_key_id=k.id[2]),
        "not base64": k.statement(0, 1, new_public_key="not base64!"),
        "field missing": {name: v for name, v in k.statement(0, 1).items() if name != "at"},
    }[broken]
    trusted = {k.id[0]: k.raw[0]}

    with pytest.raises(signing.UnknownKeyError,
                       match=f"no valid rotation chain leads from the trusted keys \\({k.id[0]}\\) to key {k.id[1]}"):
        signing.verify_rotation_chain(rotations=[bad], trusted=trusted, target_key_id=k.id[1])
    # A valid statement next to the broken one still counts.
    assert signing.verify_rotation_chain(rotations=[bad, k.statement(0, 1)], trusted=trusted,
                                         target_key_id=k.id[1]) == {k.id[1]: k.raw[1]}
