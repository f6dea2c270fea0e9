"""Reinstate now: a legal decision undoes a published removal at once, as an un-block in the next versions."""
import pytest

from apps.audit.models import AuditEvent
from apps.blocklists.models import BlocklistVersion
from apps.blocklists.selectors import blocked_keys, blocklist_shard_keys
from apps.core.actors import Actor
from apps.core.errors import TakedownError
from apps.core.identifiers import ParsedIdentifier
from apps.mirrors.models import FeedEvent, WebhookDelivery
from apps.mirrors.services import mirror_create
from apps.removals.legal import request_reinstate_now
from apps.removals.models import Status
from apps.removals.services import request_approve, request_create
from tests.support.removals import approve_and_publish, publish

pytestmark = pytest.mark.django_db


def _blocked(release) -> set[str]:
    return {key for keys in blocked_keys(release).values() for key in keys}


def test_it_un_blocks_the_samples_in_the_next_version_and_tells_the_mirrors(
        operator, release, release_on_disk, staff_with):
    samples = release_on_disk.data.successful()
    removed = [s.key for s in samples[:3]]
    kept_request, _ = approve_and_publish(operator, [samples[5].key])
    request, [before] = approve_and_publish(operator, removed)
    hooked = mirror_create(name="hooked", datasets=[release.dataset], webhook_url="https://hooks.example/x",
                           actor=Actor.system())
    assert set(removed) <= _blocked(release)
    lawyer = staff_with("lena", "legal")

    request_reinstate_now(request=request, actor=Actor.for_user(lawyer), reason="licence found: CC-BY")
    publish(request)  # what the workers do with request.reinstated

    request.refresh_from_db()
    assert request.status == Status.REINSTATED and request.reinstated_at is not None
    after = BlocklistVersion.objects.filter(release=release).order_by("-version").first()
    assert after.version == before.version + 1
    # The published files themselves: the new version no longer lists the keys, the one before did.
    for sample in samples[:3]:
        assert sample.key in blocklist_shard_keys(version=before, shard=sample.shard)
        assert sample.key not in blocklist_shard_keys(version=after, shard=sample.shard)
    assert samples[5].key in blocklist_shard_keys(version=after, shard=samples[5].shard)
    assert not set(removed) & _blocked(release)
    assert after.removed_keys == 3 and after.key_count == before.key_count - 3
    # The mirrors are told of the new version as of any other: a feed entry and a webhook delivery.
    announced = FeedEvent.objects.get(blocklist=after)
    assert WebhookDelivery.objects.filter(event=announced, mirror=hooked.mirror).exists()
    audit = AuditEvent.objects.get(action="request.reinstated", object_id=str(request.pk))
    assert audit.actor_label == Actor.for_user(lawyer).label
    assert audit.after["reason"] == "reinstated now: licence found: CC-BY"
    kept_request.refresh_from_db()
    assert kept_request.status in (Status.PUBLISHED, Status.COMPLETED)


def test_it_is_refused_where_it_makes_no_sense(operator, release, release_on_disk, staff_with):
    samples = release_on_disk.data.successful()
    lawyer = Actor.for_user(staff_with("lena", "legal"))
    open_request = request_create(category="copyright", actor=operator,
                                  identifiers=[ParsedIdentifier(2, "key", samples[0].key)])
    with pytest.raises(TakedownError, match="is received: only a published or completed removal can be reinstated"):
        request_reinstate_now(request=open_request, actor=lawyer, reason="x")

    published, _ = approve_and_publish(operator, [samples[1].key])
    with pytest.raises(TakedownError, match="needs the reason"):
        request_reinstate_now(request=published, actor=lawyer, reason="  ")
    with pytest.raises(TakedownError, match="only staff with the legal role may reinstate removals"):
        request_reinstate_now(request=published, actor=Actor.for_user(staff_with("rita", "reviewer")), reason="x")
    request_reinstate_now(request=published, actor=lawyer, reason="licence found")
    with pytest.raises(TakedownError, match="is reinstated: only a published or completed removal"):
        request_reinstate_now(request=published, actor=lawyer, reason="again")


def test_csam_is_never_reinstated_and_ncii_needs_the_restricted_role(operator, release, release_on_disk,
                                                                      staff_with):
    samples = release_on_disk.data.successful()
    csam, _ = approve_and_publish(operator, [samples[0].key], category="csam")
    with pytest.raises(TakedownError, match="csam is never reinstated"):
        request_reinstate_now(request=csam, actor=Actor.for_user(staff_with("lena", "legal", "restricted")),
                              reason="x")
    with pytest.raises(TakedownError, match="csam is never reinstated"):
        request_reinstate_now(request=csam, actor=operator, reason="the command line cannot either")
    ncii = request_create(category="ncii", actor=operator, identifiers=[ParsedIdentifier(2, "key", samples[1].key)])
    request_approve(request=ncii, actor=operator)
    publish(ncii)
    with pytest.raises(TakedownError, match="only staff with the restricted role may reinstate removals"):
        request_reinstate_now(request=ncii, actor=Actor.for_user(staff_with("leo", "legal")), reason="x")
    request_reinstate_now(request=ncii, actor=Actor.for_user(staff_with("lea", "legal", "restricted")),
                          reason="consent on file")
    ncii.refresh_from_db()
    assert ncii.status == Status.REINSTATED
