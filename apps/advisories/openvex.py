"""Advisories as OpenVEX v0.2.0 documents, signed with the host's blocklist key (apps.blocklists.signing).

The signed bytes are the document's canonical JSON (keys sorted, no spaces); the signature is the Ed25519
signature of those bytes by the key the document names (`takedown:advisory.key_id`), one of those published at
/.well-known/takedown/signing-keys.json. docs/model-advisories.md describes the document for model owners.
"""
import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings

from apps.blocklists import signing
from apps.core.errors import TakedownError

CONTEXT = "https://openvex.dev/ns/v0.2.0"
TAKEDOWN = "takedown:advisory"  # the namespaced key of Takedown's own fields
FORMAT = "takedown.advisory/1"


class AdvisoryVerificationError(TakedownError):
    """A document that is not what the host signed: a bad signature, an unknown key, or not an advisory."""


@dataclass(frozen=True)
class AdvisoryFacts:
    """What an advisory document states."""

    advisory_id: str
    model: str
    hf_repo_id: str
    dataset: str
    release: str
    blocklist_version: int
    removed_count: int
    categories: dict[str, int]
    fixed_in: str
    deadline: datetime
    status: str
    issued_at: datetime
    document_version: int
    updated_at: datetime
    # The owner's answer, when it gave one (apps.advisories.answers).
    justification: str = ""
    retrained_on: str = ""
    note: str = ""


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def product(model: str, hf_repo_id: str) -> dict:
    """The model as an OpenVEX product: its Hugging Face page (and package URL) when known, else a URN."""
    if hf_repo_id:
        return {"@id": f"https://huggingface.co/{hf_repo_id}", "identifiers": {"purl": f"pkg:huggingface/{hf_repo_id}"}}
    return {"@id": f"urn:takedown:model:{model}"}


def _description(facts: AdvisoryFacts) -> str:
    by = ", ".join(f"{name} {count}" for name, count in facts.categories.items()) or "none"
    return (f"{facts.removed_count} training samples of model {facts.model} from {facts.dataset}/{facts.release} "
            f"removed by blocklist version {facts.blocklist_version} and still removed (by category: {by}).")


def _action(facts: AdvisoryFacts) -> str:
    return (f"Stop using the removed samples: retrain or fine-tune on {facts.dataset}/{facts.release} filtered with "
            f"{facts.fixed_in} or later, or answer this advisory (under investigation, fixed, not affected, "
            f"deprecated) by {_iso(facts.deadline)}.")


# A deprecated model is still affected for OpenVEX; the owner's answer is in the action statement.
_VEX_STATUS = {"affected": "affected", "under_investigation": "under_investigation", "fixed": "fixed",
               "not_affected": "not_affected", "deprecated": "affected"}


def document_build(facts: AdvisoryFacts, *, key_id: str) -> dict:
    """The OpenVEX document of an advisory: one statement about one model."""
    statement = {
        "vulnerability": {"name": facts.advisory_id, "description": _description(facts)},
        "products": [product(facts.model, facts.hf_repo_id)],
        "status": _VEX_STATUS[facts.status],
        "timestamp": _iso(facts.issued_at),
    }
    if statement["status"] == "affected":
        statement["action_statement"] = (_action(facts) if facts.status == "affected"
                                         else "The owner deprecated the model.")
    if facts.status == "not_affected":
        statement["justification"] = facts.justification
    notes = [f"Retrained on {facts.retrained_on}." if facts.status == "fixed" and facts.retrained_on else "",
             facts.note]
    if any(notes):
        statement["status_notes"] = " ".join(note for note in notes if note)
    return {
        "@context": CONTEXT,
        "@id": f"{settings.PUBLIC_BASE_URL}/advisories/{facts.advisory_id}",
        "author": settings.OPERATOR_NAME,
        "timestamp": _iso(facts.issued_at),
        "last_updated": _iso(facts.updated_at),
        "version": facts.document_version,
        "statements": [statement],
        TAKEDOWN: {
            "format": FORMAT,
            "key_id": key_id,
            "model": facts.model,
            "dataset": facts.dataset,
            "release": facts.release,
            "blocklist_version": facts.blocklist_version,
            "removed_count": facts.removed_count,
            "categories": facts.categories,
            "fixed_in": facts.fixed_in,
            "deadline": _iso(facts.deadline),
            "status": facts.status,
        },
    }


def canonical(document: Mapping) -> bytes:
    """The bytes that are signed: JSON with sorted keys and no spaces."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def advisory_sign(facts: AdvisoryFacts) -> tuple[bytes, str, str]:
    """(canonical document bytes, base64 signature, key id) of an advisory, signed by the active blocklist key."""
    key_id = signing.key_id()
    data = canonical(document_build(facts, key_id=key_id))
    return data, signing.sign(data, expected_key_id=key_id), key_id


def public_keys_from(document: Mapping) -> dict[str, bytes]:
    """key id -> raw public key, from the signing-keys document (/.well-known/takedown/signing-keys.json)."""
    keys = {}
    for entry in document.get("keys", ()):
        try:
            keys[entry["key_id"]] = base64.b64decode(entry["public_key"], validate=True)
        except (KeyError, TypeError, binascii.Error, ValueError):
            continue
    return keys


def advisory_verify(document_bytes: bytes, signature: str | bytes, public_keys: Mapping[str, bytes]) -> dict:
    """Check an advisory's signature over its exact bytes with the key it names; returns the parsed document.

    `public_keys` maps key ids to raw 32-byte Ed25519 keys (public_keys_from reads them from the published
    document). Raises AdvisoryVerificationError for bytes that are not an advisory, a key not among
    `public_keys`, or a signature that does not verify.
    """
    try:
        document = json.loads(document_bytes)
        key_id = document[TAKEDOWN]["key_id"]
    except (ValueError, KeyError, TypeError):
        raise AdvisoryVerificationError("not a Takedown advisory document (no takedown:advisory.key_id)") from None
    if key_id not in public_keys:
        raise AdvisoryVerificationError(f"advisory signed with unknown key {key_id!r} "
                                        f"(known: {', '.join(sorted(public_keys)) or 'none'})")
    if isinstance(signature, bytes):
        signature = signature.decode("ascii", "replace")
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
        Ed25519PublicKey.from_public_bytes(public_keys[key_id]).verify(raw, document_bytes)
    except (binascii.Error, ValueError, InvalidSignature):
        raise AdvisoryVerificationError(f"advisory signature does not verify with key {key_id}") from None
    return document
