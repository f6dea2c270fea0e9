"""What the advisories stage does when a blocklist version is published."""
from apps.advisories.events import ADVISORY_ISSUED, ADVISORY_UPDATED, MODEL_REGISTERED
from apps.advisories.models import TrainedModel
from apps.advisories.notify import advisory_email, advisory_webhook
from apps.advisories.services import advisories_catch_up, advisories_issue, advisories_recount
from apps.blocklists.events import BLOCKLIST_PUBLISHED
from apps.blocklists.models import BlocklistVersion
from apps.events.registry import subscribe


@subscribe(BLOCKLIST_PUBLISHED, name="advisories.notify_models")
def notify_models(event) -> None:
    """Advise the models trained on samples the version added; after an un-block, count their advisories again."""
    version = BlocklistVersion.objects.select_related("release__dataset").filter(pk=event.payload["version"]).first()
    if version is None or event.payload.get("refresh"):
        return
    if version.added_keys:
        advisories_issue(version=version)
    if version.removed_keys:
        advisories_recount(release=version.release)



# One handler per channel: a webhook that fails and is retried does not send the email again.
@subscribe(ADVISORY_ISSUED, ADVISORY_UPDATED, name="advisories.email_owner")
def email_owner(event) -> None:
    """Email the model's contact about the advisory's new document version (once per version)."""
    advisory_email(advisory_id=event.payload["advisory"], document_version=event.payload["document_version"],
                   event=event.name)


@subscribe(ADVISORY_ISSUED, ADVISORY_UPDATED, name="advisories.webhook_owner")
def webhook_owner(event) -> None:
    """POST the model's webhook about the advisory's new document version (once per version)."""
    advisory_webhook(advisory_id=event.payload["advisory"], document_version=event.payload["document_version"],
                     event=event.name)


@subscribe(MODEL_REGISTERED, name="advisories.catch_up_model")
def catch_up_model(event) -> None:
    """A model registered after removals from its releases were published is advised of them."""
    model = TrainedModel.objects.select_related("base_model").filter(pk=event.payload["model"]).first()
    if model is not None:
        advisories_catch_up(model=model)
