"""Each category's legal duties: DMCA notices and counter-notices, GDPR deadlines and recipients,
opt-out domain proofs, the csam hotline report and legal hold, the status machine and reminders."""
import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from dateutil.relativedelta import relativedelta
from django.core import mail
from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.blocklists.selectors import blocked_keys, blocklist_version_get
from apps.core.actors import Actor
from apps.core.errors import TakedownError
from apps.core.identifiers import ParsedIdentifier
from apps.mirrors.selectors import request_recipients
from apps.mirrors.services import ack_record, mirror_create
from apps.removals import deadlines
from apps.removals.holds import LegalHold
from apps.removals.legal import (
    add_business_days,
    counter_notice_record,
    dmca_notice_record,
    domain_claim_check,
    domain_claim_start,
    erasure_extend,
    lawsuit_record,
)
from apps.removals.models import HotlineReport, Identifier, Policy, Reminder, RemovalRequest, Status
from apps.removals.selectors import counter_notices_due
from apps.removals.services import (
    TRANSITIONS,
    Intake,
    policy_update,
    request_approve,
    request_create,
    request_transition,
)
from apps.removals.tasks import counter_notices_task, reminders_task
from tests.support.receiver import start_file_server
from tests.support.removals import publish

DMCA_COMPLETE = {
    "signature": "/s/ Ada Rights", "copyrighted_work": "Painting 'Harbour at dusk' (2019)",
    "infringing_material": "the sample keys listed", "contact": "ada@rights.example, +1 555 0100",
    "good_faith": True, "accurate_under_penalty": True,
}


def keys(release_on_disk, count, start=0):
    return [s.key for s in release_on_disk.data.successful()[start:start + count]]


def key_identifiers(found):
    return [ParsedIdentifier(line, "key", key) for line, key in enumerate(found, start=1)]


def published(release, release_on_disk, operator, category, found, **kwargs):
    request = request_create(category=category, identifiers=key_identifiers(found), actor=operator, **kwargs)
    request_approve(request=request, actor=operator)
    publish(request)
    request.refresh_from_db()
    assert request.status in (Status.PUBLISHED, Status.COMPLETED)
    return request


@pytest.fixture
def commits(django_capture_on_commit_callbacks):
    """Run what a service defers to after its commit (mail, queued tasks): tests run inside a transaction."""
    return django_capture_on_commit_callbacks


# ---------------------------------------------------------------- copyright


@pytest.mark.django_db
@pytest.mark.parametrize("missing", list(DMCA_COMPLETE))
def test_a_dmca_notice_missing_an_element_goes_back_to_the_requester_naming_it(operator, missing, commits):
    notice = {**DMCA_COMPLETE, missing: False if isinstance(DMCA_COMPLETE[missing], bool) else " "}
    with commits(execute=True):
        request = request_create(category="copyright", identifiers=[ParsedIdentifier(1, "key", "000001")],
                                 actor=operator, intake=Intake(requester_email="ada@rights.example"))
        dmca_notice_record(request=request, actor=operator, **notice)
    request.refresh_from_db()
    assert request.status == Status.NEEDS_INFO
    assert "512(c)(3)(A)" in request.decision_reason
    [message] = mail.outbox
    assert message.to == ["ada@rights.example"]
    assert request.tracking_id in message.subject
    label = request.dmca_notice.missing()[0]
    assert label in message.body and label in request.decision_reason


@pytest.mark.django_db
def test_a_complete_dmca_notice_waits_for_review(operator, commits):
    with commits(execute=True):
        request = request_create(category="copyright", identifiers=[ParsedIdentifier(1, "key", "000001")],
                                 actor=operator, intake=Intake(requester_email="ada@rights.example"))
        dmca_notice_record(request=request, actor=operator, **DMCA_COMPLETE)
    request.refresh_from_db()
    assert request.status == Status.RECEIVED
    assert request.dmca_notice.missing() == []
    assert mail.outbox == []
    assert AuditEvent.objects.filter(action="request.dmca_checked", after__complete=True).count() == 1


def test_business_days_skip_weekends():
    friday = date(2026, 11, 27)
    assert add_business_days(friday, 1) == date(2026, 11, 30)
    assert add_business_days(friday, 10) == date(2026, 12, 11)
    assert add_business_days(friday, 14) == date(2026, 12, 17)


@pytest.mark.django_db
def test_a_counter_notice_answers_only_a_published_copyright_removal(operator, release, release_on_disk):
    pending = request_create(category="copyright", identifiers=[ParsedIdentifier(1, "key", "000001")], actor=operator)
    with pytest.raises(TakedownError, match="answers a removal that was published"):
        counter_notice_record(request=pending, actor=operator, counter_party="Bo Uploader")
    privacy = published(release, release_on_disk, operator, "privacy", keys(release_on_disk, 1))
    with pytest.raises(TakedownError, match="only copyright"):
        counter_notice_record(request=privacy, actor=operator, counter_party="Bo Uploader")
    copyright_ = published(release, release_on_disk, operator, "copyright", keys(release_on_disk, 1, start=1))
    with pytest.raises(TakedownError, match="names who sent it"):
        counter_notice_record(request=copyright_, actor=operator, counter_party="  ")


@pytest.mark.django_db
def test_without_a_lawsuit_the_removal_is_reinstated_and_the_next_blocklist_unblocks_it(
        operator, release, release_on_disk, eager_tasks, commits):
    removed = keys(release_on_disk, 3)
    other = published(release, release_on_disk, operator, "privacy", keys(release_on_disk, 1, start=5))
    request = published(release, release_on_disk, operator, "copyright", removed,
                        intake=Intake(requester_email="ada@rights.example"))
    before = blocklist_version_get(release=release)
    assert set(removed) <= {k for ks in blocked_keys(release).values() for k in ks}

    with commits(execute=True):
        notice = counter_notice_record(request=request, actor=operator, counter_party="Bo Uploader",
                                       received_at=datetime(2026, 10, 30, 15, tzinfo=UTC))  # a Friday
    assert (notice.restore_not_before, notice.restore_by) == (date(2026, 11, 13), date(2026, 11, 19))
    assert "2026-11-13" in mail.outbox[-1].body and "2026-11-19" in mail.outbox[-1].body
    assert counter_notices_due(date(2026, 11, 12)) == []
    assert counter_notices_due(date(2026, 11, 13)) == [notice]

    with commits(execute=True):
        counter_notices_task()  # today is past the window: the beat task reinstates
    request.refresh_from_db()
    assert request.status == Status.REINSTATED and request.reinstated_at is not None
    after = blocklist_version_get(release=release)
    assert after.version == before.version + 1
    still_blocked = {k for ks in blocked_keys(release).values() for k in ks}
    assert not set(removed) & still_blocked
    assert set(other.matches.values_list("key", flat=True)) <= still_blocked
    assert after.key_count == before.key_count - 3
    assert AuditEvent.objects.filter(action="request.reinstated", object_id=str(request.pk)).exists()
    with commits(execute=True):
        counter_notices_task()  # idempotent: nothing left to restore
    assert blocklist_version_get(release=release).version == after.version


@pytest.mark.django_db
def test_a_lawsuit_in_the_window_keeps_the_removal(operator, release, release_on_disk, eager_tasks, commits):
    request = published(release, release_on_disk, operator, "copyright", keys(release_on_disk, 2))
    notice = counter_notice_record(request=request, actor=operator, counter_party="Bo Uploader",
                                   received_at=timezone.now() - timedelta(days=30))
    lawsuit_record(notice=notice, actor=operator, reference="N.D. Cal. 3:26-cv-01234")
    assert counter_notices_due() == []
    version = blocklist_version_get(release=release).version
    with commits(execute=True):
        counter_notices_task()
    request.refresh_from_db()
    assert request.status in (Status.PUBLISHED, Status.COMPLETED)
    assert blocklist_version_get(release=release).version == version


@pytest.mark.django_db
def test_a_reinstated_request_cannot_be_reinstated_or_sued_again(operator, release, release_on_disk, eager_tasks,
                                                                 commits):
    request = published(release, release_on_disk, operator, "copyright", keys(release_on_disk, 1))
    notice = counter_notice_record(request=request, actor=operator, counter_party="Bo Uploader",
                                   received_at=timezone.now() - timedelta(days=30))
    with commits(execute=True):
        counter_notices_task()
    notice.refresh_from_db()
    with pytest.raises(TakedownError, match="already restored"):
        lawsuit_record(notice=notice, actor=operator, reference="too late")
    with pytest.raises(TakedownError, match="reinstated"):
        counter_notice_record(request=request, actor=operator, counter_party="Bo Uploader")


# ---------------------------------------------------------------- privacy


@pytest.mark.django_db
def test_an_erasure_is_due_one_month_after_receipt_and_extends_by_up_to_two_with_reasons(operator, commits):
    received = timezone.now() - timedelta(days=3)
    request = request_create(category="privacy", identifiers=[ParsedIdentifier(1, "key", "000001")],
                             actor=operator, received_at=received, intake=Intake(requester_email="dana@example.org"))
    assert request.due_at == received + relativedelta(months=1)
    with pytest.raises(TakedownError, match="1 or 2 months"):
        erasure_extend(request=request, actor=operator, months=3, reason="volume")
    with pytest.raises(TakedownError, match="reasons"):
        erasure_extend(request=request, actor=operator, months=2, reason="  ")
    with commits(execute=True):
        extension = erasure_extend(request=request, actor=operator, months=2,
                                   reason="The images sit in 4,000 shards across three releases.")
    request.refresh_from_db()
    assert request.due_at == received + relativedelta(months=3)
    assert extension.recorded_by_label == operator.label
    assert "4,000 shards" in mail.outbox[-1].body and f"{request.due_at:%Y-%m-%d}" in mail.outbox[-1].body
    event = AuditEvent.objects.get(action="request.deadline_extended")
    assert event.after["months"] == 2 and "4,000 shards" in event.after["reason"]
    with pytest.raises(TakedownError, match="already extended"):
        erasure_extend(request=request, actor=operator, months=1, reason="more")


@pytest.mark.django_db
def test_an_erasure_cannot_be_extended_after_its_first_month_or_in_another_category(operator):
    late = request_create(category="privacy", identifiers=[ParsedIdentifier(1, "key", "000001")], actor=operator,
                          received_at=timezone.now() - timedelta(days=32))
    with pytest.raises(TakedownError, match="within the first month"):
        erasure_extend(request=late, actor=operator, months=1, reason="volume")
    other = request_create(category="copyright", identifiers=[ParsedIdentifier(1, "key", "000001")], actor=operator)
    with pytest.raises(TakedownError, match="only privacy"):
        erasure_extend(request=other, actor=operator, months=1, reason="volume")


@pytest.mark.django_db
def test_only_legal_staff_extend_a_deadline(operator, staff_with):
    request = request_create(category="privacy", identifiers=[ParsedIdentifier(1, "key", "000001")], actor=operator)
    with pytest.raises(TakedownError):
        erasure_extend(request=request, actor=Actor.for_user(staff_with("rev", "reviewer")), months=1, reason="x")
    erasure_extend(request=request, actor=Actor.for_user(staff_with("counsel", "legal")), months=1, reason="volume")


@pytest.mark.django_db
def test_the_mirrors_told_of_an_erasure_are_listed_and_exported_for_the_data_subject(
        operator, release, release_on_disk, client, staff_with):
    first = mirror_create(name="mirror-eu", datasets=[release.dataset], contact_email="ops@mirror-eu.example",
                          actor=operator).mirror
    mirror_create(name="mirror-us", datasets=[release.dataset], contact_email="ops@mirror-us.example",
                  actor=operator)
    request = published(release, release_on_disk, operator, "privacy", keys(release_on_disk, 2))
    version = request.blocklist_versions.get()
    ack_record(mirror=first, dataset="demo", release="2026-11", version=version.version, status="applied")

    recipients = request_recipients(request=request)
    assert [(r.mirror, r.contact_email, r.blocklist_version) for r in recipients] == [
        ("mirror-eu", "ops@mirror-eu.example", version.version),
        ("mirror-us", "ops@mirror-us.example", version.version)]
    assert recipients[0].applied_at is not None and recipients[1].applied_at is None

    client.force_login(staff_with("counsel", "legal"))
    response = client.get(f"/admin/removals/removalrequest/{request.pk}/recipients.csv")
    assert response.status_code == 200 and response["content-type"].startswith("text/csv")
    assert request.tracking_id in response["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["mirror"] for row in rows] == ["mirror-eu", "mirror-us"]
    assert rows[0]["applied_at"] and not rows[1]["applied_at"]
    for key in keys(release_on_disk, 2):
        assert key not in response.content.decode()


# ---------------------------------------------------------------- opt-out


@pytest.fixture
def proof_server(settings):
    """A loopback web server standing in for the requester's domain."""
    server = start_file_server()
    settings.DOMAIN_PROOF_URL = server.base + "/{domain}/.well-known/takedown-opt-out.txt"
    yield server
    server.server.shutdown()
    server.server.server_close()


def opt_out(operator, *values):
    identifiers = [ParsedIdentifier(n, kind, value) for n, (kind, value) in enumerate(values, start=1)]
    return request_create(category="opt_out", identifiers=identifiers, actor=operator, source="artist")


@pytest.mark.django_db
def test_a_proven_domain_approves_an_opt_out_without_review(operator, proof_server, allow_loopback_webhooks):
    request = opt_out(operator, ("domain", "artist.example"), ("url", "https://cdn.artist.example/a/1.jpg"),
                      ("url_prefix", "https://artist.example/portfolio/"))
    claim = domain_claim_start(request=request, domain="Artist.Example")
    assert claim.domain == "artist.example" and claim.token.startswith("takedown-")
    path = "/artist.example/.well-known/takedown-opt-out.txt"

    domain_claim_check(claim=claim)  # nothing published yet
    claim.refresh_from_db()
    assert claim.verified_at is None and "404" in claim.last_error
    proof_server.files[path] = (200, f"# opt-out\n{claim.token}\n".encode(), {})
    domain_claim_check(claim=claim)
    claim.refresh_from_db()
    request.refresh_from_db()
    assert claim.verified_at is not None and claim.last_error == ""
    assert request.status == Status.APPROVED and request.approved_by_label == "policy:opt-out"
    assert AuditEvent.objects.filter(action="request.domain_proven", object_id=str(request.pk)).exists()


@pytest.mark.django_db
def test_an_opt_out_naming_another_domain_still_needs_review(operator, proof_server, allow_loopback_webhooks):
    request = opt_out(operator, ("domain", "artist.example"), ("url", "https://elsewhere.example/1.jpg"))
    claim = domain_claim_start(request=request, domain="artist.example")
    proof_server.files["/artist.example/.well-known/takedown-opt-out.txt"] = (200, claim.token.encode(), {})
    domain_claim_check(claim=claim)
    request.refresh_from_db()
    assert request.status == Status.RECEIVED


@pytest.mark.django_db
def test_the_proof_is_not_fetched_from_a_private_address_nor_through_a_redirect(operator, proof_server, settings):
    request = opt_out(operator, ("domain", "artist.example"))
    claim = domain_claim_start(request=request, domain="artist.example")
    domain_claim_check(claim=claim)  # loopback without WEBHOOKS_ALLOW_PRIVATE_ADDRESSES
    claim.refresh_from_db()
    assert claim.verified_at is None and "127.0.0.1" in claim.last_error
    assert proof_server.requested == []

    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True
    proof_server.files["/artist.example/.well-known/takedown-opt-out.txt"] = (
        302, b"", {"location": "http://127.0.0.1:1/elsewhere"})
    domain_claim_check(claim=claim)
    claim.refresh_from_db()
    assert claim.verified_at is None and "302" in claim.last_error


@pytest.mark.django_db
@pytest.mark.parametrize("policy, identifier, approved", [
    ("never", ("url", "https://artist.example/a.jpg"), True),
    ("always", ("url", "https://artist.example/a.jpg"), False),
    # A whole site is never removed on an unproven claim, whatever the policy.
    ("never", ("domain", "artist.example"), False), ("never", ("url_prefix", "https://artist.example/"), False),
])
def test_the_policy_may_approve_every_opt_out_or_none(operator, policy, identifier, approved, eager_tasks, release):
    Policy.objects.update_or_create(pk=1, defaults={"opt_out_review": policy})
    request = opt_out(operator, identifier)
    from apps.removals.legal import opt_out_auto_approve

    assert opt_out_auto_approve(request=request) is approved
    request.refresh_from_db()
    assert (request.status != Status.RECEIVED) is approved


@pytest.mark.django_db
def test_only_opt_outs_prove_domains_and_bad_domains_are_named(operator):
    request = opt_out(operator, ("domain", "artist.example"))
    with pytest.raises(TakedownError, match="not a domain|domain"):
        domain_claim_start(request=request, domain="http://")
    other = request_create(category="other", identifiers=[ParsedIdentifier(1, "key", "000001")], actor=operator)
    with pytest.raises(TakedownError, match="only opt-out"):
        domain_claim_start(request=other, domain="artist.example")


# ---------------------------------------------------------------- csam and ncii


@pytest.mark.django_db
def test_a_csam_request_is_due_within_hours_records_its_hotline_report_and_is_held_a_year(operator):
    received = timezone.now()
    request = request_create(category="csam", identifiers=[ParsedIdentifier(1, "md5", "0" * 31 + "1")],
                             actor=operator, received_at=received,
                             hotline={"hotline": "ncmec", "report_id": "CT-99812", "reported_at": received})
    assert request.due_at == received + timedelta(hours=24)
    assert request.legal_hold_until == (received + timedelta(days=365)).date()
    assert request.hotline_report.report_id == "CT-99812"
    assert AuditEvent.objects.filter(action="request.hotline_reported", after__report_id="CT-99812").exists()

    for delete in (request.delete, Identifier.objects.filter(request=request).delete,
                   HotlineReport.objects.filter(request=request).delete,
                   RemovalRequest.objects.filter(pk=request.pk).delete):
        with pytest.raises(LegalHold, match="legal hold until"), transaction.atomic():
            delete()
    assert RemovalRequest.objects.filter(pk=request.pk).exists()
    assert request.identifiers.count() == 1 and HotlineReport.objects.filter(request=request).exists()

    RemovalRequest.objects.filter(pk=request.pk).update(legal_hold_until=timezone.localdate() - timedelta(days=1))
    RemovalRequest.objects.filter(pk=request.pk).delete()  # the hold has passed
    assert not RemovalRequest.objects.filter(pk=request.pk).exists()


@pytest.mark.django_db
def test_a_new_csam_request_is_not_overdue_on_arrival_and_its_deadline_follows_the_policy(operator, staff_with):
    csam = [ParsedIdentifier(1, "md5", "0" * 31 + "1")]
    request = request_create(category="csam", identifiers=csam, actor=operator)
    assert request.due_at > timezone.now()
    assert not deadlines.requests_overdue().filter(pk=request.pk).exists()
    assert deadlines.requests_due_soon().filter(pk=request.pk).exists()  # 24 hours: within the reminder window

    admin = Actor.for_user(staff_with("boss", "admin"))
    for bad in (0, 49):
        with pytest.raises(TakedownError, match="csam_due_hours"):
            policy_update(actor=admin, csam_due_hours=bad)
    policy_update(actor=admin, csam_due_hours=6)
    later = request_create(category="csam", identifiers=csam, actor=operator)
    assert later.due_at - later.received_at == timedelta(hours=6)
    assert request_create(category="ncii", identifiers=csam, actor=operator).due_at - timezone.now() > timedelta(
        hours=47)  # the other clocks do not follow it


@pytest.mark.django_db
def test_the_legal_hold_is_never_shorter_than_a_year(operator, staff_with):
    admin = Actor.for_user(staff_with("boss", "admin"))
    with pytest.raises(TakedownError, match="legal_hold_days"):
        policy_update(actor=admin, legal_hold_days=30)
    assert Policy.current().legal_hold_days == 365
    policy_update(actor=admin, legal_hold_days=730)
    request = request_create(category="csam", identifiers=[ParsedIdentifier(1, "md5", "0" * 31 + "1")],
                             actor=operator)
    assert request.legal_hold_until == (request.received_at + timedelta(days=730)).date()
    assert AuditEvent.objects.filter(action="policy.changed", after__legal_hold_days=730).exists()


@pytest.mark.django_db
def test_only_csam_requests_carry_a_hotline_report_and_unknown_hotlines_are_named(operator):
    with pytest.raises(TakedownError, match="only csam"):
        request_create(category="ncii", identifiers=[ParsedIdentifier(1, "key", "000001")], actor=operator,
                       hotline={"hotline": "ncmec", "report_id": "1"})
    with pytest.raises(TakedownError, match="unknown hotline 'fbi'"):
        request_create(category="csam", identifiers=[ParsedIdentifier(1, "key", "000001")], actor=operator,
                       hotline={"hotline": "fbi", "report_id": "1"})
    assert not RemovalRequest.objects.exists()  # nothing half-written


@pytest.mark.django_db
def test_ncii_is_due_within_48_hours_and_other_categories_have_their_clocks(operator):
    received = timezone.now()
    due = {category: request_create(category=category, identifiers=[ParsedIdentifier(1, "key", "000001")],
                                    actor=operator, received_at=received).due_at - received
           for category in ("ncii", "copyright", "opt_out", "other")}
    assert due == {"ncii": timedelta(hours=48), "copyright": timedelta(days=2), "opt_out": timedelta(days=30),
                   "other": timedelta(days=30)}
    assert not RemovalRequest.objects.filter(category="ncii").exclude(legal_hold_until=None).exists()


# ---------------------------------------------------------------- the status machine


ALL_PAIRS = [(a, b) for a in Status.values for b in Status.values if a != b]


@pytest.mark.django_db
@pytest.mark.parametrize("start, to", ALL_PAIRS)
def test_the_status_machine_allows_only_its_transitions(operator, staff_with, start, to):
    request = request_create(category="other", identifiers=[ParsedIdentifier(1, "key", "000001")], actor=operator)
    RemovalRequest.objects.filter(pk=request.pk).update(status=start)
    actor = Actor.for_user(staff_with("boss", "admin", "restricted"))
    if to in TRANSITIONS[start]:
        request_transition(request=request, to=to, actor=actor, reason="test")
        request.refresh_from_db()
        assert request.status == to
        assert AuditEvent.objects.filter(action=f"request.{to}", before__status=start).exists()
    else:
        with pytest.raises(TakedownError, match="cannot become"):
            request_transition(request=request, to=to, actor=actor, reason="test")
        request.refresh_from_db()
        assert request.status == start


# ---------------------------------------------------------------- reminders


@pytest.fixture
def waiting(operator, staff_with):
    staff_with("night-shift", "reviewer")  # has an address: night-shift@host.example
    now = timezone.now()
    overdue = request_create(category="csam", identifiers=[ParsedIdentifier(1, "key", "SECRET-KEY-1")],
                             actor=operator, received_at=now - timedelta(hours=30))
    soon = request_create(category="ncii", identifiers=[ParsedIdentifier(1, "url", "https://leak.example/p.jpg")],
                          actor=operator, received_at=now - timedelta(hours=40))
    later = request_create(category="other", identifiers=[ParsedIdentifier(1, "key", "000009")], actor=operator)
    return overdue, soon, later


@pytest.mark.django_db
def test_overdue_and_soon_due_requests_are_mailed_once_a_day_without_identifiers(waiting):
    overdue, soon, later = waiting
    assert list(deadlines.requests_overdue()) == [overdue]
    assert list(deadlines.requests_due_soon()) == [soon]
    reminders_task()
    [message] = mail.outbox
    assert message.to == ["night-shift@host.example"]
    assert overdue.tracking_id in message.body and soon.tracking_id in message.body
    assert later.tracking_id not in message.body
    assert "SECRET-KEY-1" not in message.body and "leak.example" not in message.body
    reminders_task()
    assert len(mail.outbox) == 1  # once a day
    Reminder.objects.update(day=timezone.localdate() - timedelta(days=1))
    reminders_task()
    assert len(mail.outbox) == 2  # and again the next day


@pytest.mark.django_db
def test_a_reminder_the_mail_server_refused_is_sent_on_the_next_run(waiting, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 1  # nothing listens there
    assert deadlines.reminders_send() == 0
    assert not Reminder.objects.exists()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert deadlines.reminders_send() == 2
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_reminders_go_to_the_addresses_the_policy_names(waiting):
    Policy.objects.update_or_create(pk=1, defaults={"reminder_emails": "queue@host.example\n\nlegal@host.example"})
    deadlines.reminders_send()
    assert mail.outbox[0].to == ["queue@host.example", "legal@host.example"]


@pytest.mark.django_db
def test_the_admin_shows_how_many_requests_are_overdue_or_due_soon(waiting, client, staff_with):
    client.force_login(staff_with("intake-desk", "intake"))
    for url in ("/admin/", "/admin/removals/removalrequest/"):
        page = client.get(url).content.decode()
        assert "1 removal request overdue" in page and "1 removal request due within 24 hours" in page
        assert "?due=overdue" in page
    listed = client.get("/admin/removals/removalrequest/?due=overdue").content.decode()
    overdue, soon, later = waiting
    assert overdue.tracking_id in listed and soon.tracking_id not in listed


@pytest.mark.django_db
def test_the_reminder_and_counter_notice_tasks_are_on_the_beat_schedule(settings):
    from project.celery import app

    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {reminders_task.name, counter_notices_task.name} <= tasks
