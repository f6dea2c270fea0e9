"""What the advisories stage records."""
from apps.events.registry import declare

ADVISORY_ISSUED = declare(
    "advisory.issued", "A model was sent an advisory: a blocklist version removed samples it was trained on "
    "(payload: advisory, document_version).", producer="advisories")
ADVISORY_UPDATED = declare(
    "advisory.updated", "An advisory's document was re-signed: a recount after an un-block, or the owner's "
    "answer (payload: advisory, document_version).", producer="advisories")
MODEL_REGISTERED = declare(
    "model.registered", "A model was registered as trained on releases (payload: model); removals published "
    "before it was registered are caught up.", producer="advisories")
