"""A populated console for crawls: a request in every category and status (a csam one from a hotline flagger, an
ncii one from the public form), published blocklist versions, a mirror with acknowledgements and one with a
webhook (its deliveries waiting), an allow-list entry and a revoked one, handler runs done and pending."""
from apps.blocklists.models import BlocklistVersion
from apps.core.actors import Actor
from apps.core.identifiers import ParsedIdentifier
from apps.datasets.selectors import release_samples
from apps.matching.services import allow_list_add, allow_list_revoke
from apps.mirrors.services import ack_record, mirror_create
from apps.removals import legal
from apps.removals.models import Channel, Status
from apps.removals.services import (
    Intake,
    request_approve,
    request_create,
    request_needs_info,
    request_reject,
    request_transition,
)
from tests.support.removals import publish


def populate(*, release, operator: Actor) -> dict:
    """Add to the database what a host's console holds after some weeks; returns the notable objects."""
    samples = release_samples(release=release, limit=60)
    dataset = release.dataset
    hooked = mirror_create(name="hooked-mirror", datasets=[dataset], webhook_url="https://hooks.example/takedown",
                           contact_email="ops@hooks.example", actor=operator).mirror
    polling = mirror_create(name="polling-mirror", datasets=[dataset], actor=operator).mirror

    def make(category: str, n: int, **kwargs):
        return request_create(category=category, actor=operator, source=f"{category} source", identifiers=[
            ParsedIdentifier(2, "url", samples[n]["url"])], **kwargs)

    received = make("privacy", 30, intake=Intake(channel=Channel.WEB_FORM, requester_name="Dana",
                                                 requester_email="dana@example.org"))
    triage = request_transition(request=make("other", 31), to=Status.TRIAGE, actor=operator, role="intake")
    needs_info = request_needs_info(request=make("opt_out", 32), actor=operator, reason="which pages?")
    rejected = request_reject(request=make("copyright", 33), actor=operator, reason="not ours")
    approved = request_approve(request=make("privacy", 34), actor=operator)  # not drained: runs pending
    published = make("copyright", 35)
    request_approve(request=published, actor=operator)
    publish(published)
    reinstated = make("copyright", 36)
    request_approve(request=reinstated, actor=operator)
    publish(reinstated)
    notice = legal.counter_notice_record(request=reinstated, actor=operator, counter_party="Uploader")
    legal.request_reinstate(notice=notice, actor=operator)
    publish(reinstated)
    countered = make("copyright", 37)
    request_approve(request=countered, actor=operator)
    publish(countered)
    legal.counter_notice_record(request=countered, actor=operator, counter_party="Another uploader")
    legal.dmca_notice_record(request=make("copyright", 38), actor=operator, signature="Ada",
                             copyrighted_work="A painting", infringing_material="the URL", contact="ada@example.org",
                             good_faith=True, accurate_under_penalty=True)

    for version in BlocklistVersion.objects.filter(release=release):
        ack_record(mirror=polling, dataset=dataset.name, release=release.name, version=version.version,
                   status="applied")
    latest = BlocklistVersion.objects.filter(release=release).order_by("-version").first()
    ack_record(mirror=hooked, dataset=dataset.name, release=release.name, version=latest.version, status="failed",
               detail="disk full")

    entry = allow_list_add(actor=operator, reason="a stock photo the hotline listed", kind="url",
                           value=samples[40]["url"])
    revoked = allow_list_add(actor=operator, reason="wrong sample", release=release, key=samples[41]["key"])
    allow_list_revoke(entry=revoked, actor=operator)
    return {"received": received, "triage": triage, "needs_info": needs_info, "rejected": rejected,
            "approved": approved, "published": published, "reinstated": reinstated, "countered": countered,
            "hooked_mirror": hooked, "polling_mirror": polling, "allow_list_entry": entry}
