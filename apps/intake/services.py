"""The public intake form's work: read identifier lines, log a report, look up its status.

Views stay thin; this module calls the removals services (request_create,
status_secret_issue, request_status_for) and the legal duties (DMCA notice via
request_create's `dmca`, opt-out domain proofs, the GDPR Art. 19 recipients).
"""
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.core import signing
from django.db import transaction
from django.db.models import Sum

from apps.core import identifiers as ids
from apps.core.actors import Actor
from apps.core.categories import RESTRICTED_CATEGORIES, Category
from apps.core.csvfiles import MAX_REPORTED_ERRORS
from apps.core.errors import TakedownError
from apps.core.identifiers import ParsedIdentifier
from apps.datasets.models import Dataset
from apps.mirrors.selectors import Recipient, request_recipients
from apps.mirrors.selectors import recipients_rows as mirror_recipients_rows
from apps.removals.legal import dmca_notice_record, domain_claim_check, domain_claim_start, opt_out_auto_approve
from apps.removals.models import OPEN_STATUSES, Channel, DomainClaim, RemovalRequest
from apps.removals.selectors import request_status_for
from apps.removals.services import Intake, request_create, status_secret_issue

PUBLIC_ACTOR = Actor(label="web:public")
SOURCE = "web form"
MAX_IDENTIFIERS = 1000
# Kinds a member of the public may name; opt-outs may also name whole domains and URL prefixes.
PUBLIC_KINDS = (ids.URL, ids.KEY, ids.MD5, ids.SHA1, ids.SHA256, ids.PDQ)
OPT_OUT_KINDS = (ids.DOMAIN, ids.URL_PREFIX)
_PREFIXED = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)\s*[,:]\s*(.*)$")
_ALIASES = {"prefix": ids.URL_PREFIX}
# A status-page session (the signed token in its forms) lasts this long.
STATUS_TOKEN_SECONDS = 30 * 60
_TOKEN_SALT = "apps.intake.status"


# ---------------------------------------------------------------- identifier lines


def parse_lines(text: str, *, category: str) -> tuple[list[ParsedIdentifier], list[str]]:
    """Read the identifiers textarea: one per line, as a URL, a sample key or `kind,value`.

    Returns (identifiers, errors); each error names its line. Blank lines are
    skipped and repeats kept once, at their first line.
    """
    parsed: list[ParsedIdentifier] = []
    errors: list[str] = []
    seen: set[tuple[str, str]] = set()
    allowed = PUBLIC_KINDS + (OPT_OUT_KINDS if category == Category.OPT_OUT else ())
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            kind, value = _read_line(line, allowed=allowed)
        except ids.InvalidIdentifier as exc:
            errors.append(f"Line {number}: {exc}")
            continue
        if (kind, value) not in seen:
            seen.add((kind, value))
            parsed.append(ParsedIdentifier(line=number, kind=kind, value=value))
    if not errors and len(parsed) > MAX_IDENTIFIERS:
        errors.append(f"{len(parsed):,} identifiers: a report holds at most {MAX_IDENTIFIERS:,}; "
                      "split it into several reports")
    if len(errors) > MAX_REPORTED_ERRORS:
        errors = errors[:MAX_REPORTED_ERRORS] + [f"... and {len(errors) - MAX_REPORTED_ERRORS} more bad lines"]
    return parsed, errors


def _read_line(line: str, *, allowed: tuple[str, ...]) -> tuple[str, str]:
    if line.lower().startswith(("http://", "https://")):
        return ids.URL, ids.normalise(ids.URL, line)
    prefixed = _PREFIXED.match(line)
    if prefixed:
        head = prefixed.group(1).lower()
        try:
            kind = _ALIASES.get(head) or ids.parse_kind(head)
        except ids.InvalidIdentifier:
            kind = None
        if kind is not None:
            if kind not in allowed:
                if kind in OPT_OUT_KINDS:
                    raise ids.InvalidIdentifier(f"{head}: lines are only for opt-out requests")
                raise ids.InvalidIdentifier(f"{head}: identifiers cannot be reported here")
            return kind, ids.normalise(kind, prefixed.group(2))
    if "://" in line:
        raise ids.InvalidIdentifier(f"{line[:80]!r} must start with http:// or https://")
    if "/" in line or line.lower().startswith("www."):
        raise ids.InvalidIdentifier(
            f"{line[:80]!r} looks like a web address: write it with https:// in front "
            "(or as key,VALUE if it is a sample key)")
    return ids.KEY, ids.normalise(ids.KEY, line)


# ---------------------------------------------------------------- reports


@dataclass
class Receipt:
    """What the person sees once, after reporting: the secret is never shown again."""

    request: RemovalRequest
    secret: str
    dmca_missing: list[str] = field(default_factory=list)
    claims: list[DomainClaim] = field(default_factory=list)
    claim_errors: list[str] = field(default_factory=list)
    approved: bool = False


def report_submit(*, category: str, identifiers: list[ParsedIdentifier], requester_name: str = "",
                  requester_email: str = "", requester_details: dict | None = None, reference: str = "",
                  dmca: dict | None = None, dataset: Dataset | None = None) -> Receipt:
    """Log a report from the public form and issue its status secret; a worker matches it (request.received).

    A copyright report carries its DMCA notice (incomplete: sent back as needing
    information). An opt-out gets a domain claim for every domain and URL prefix
    it names, and is approved at once when the review policy allows. `dataset` limits it to one dataset (the
    form asks for one when it names sample keys).
    """
    if category not in Category.values:
        raise TakedownError(f"unknown category {category!r}")
    with transaction.atomic():
        request = request_create(
            category=category, identifiers=identifiers, actor=PUBLIC_ACTOR, source=SOURCE, reference=reference,
            intake=Intake(channel=Channel.WEB_FORM, requester_name=requester_name.strip(),
                          requester_email=requester_email.strip(), requester_details=requester_details or {}),
            dataset=dataset,
        )
        if category == Category.COPYRIGHT and dmca is not None:
            dmca_notice_record(request=request, actor=PUBLIC_ACTOR, **dmca)
        secret = status_secret_issue(request=request)
        receipt = Receipt(request=request, secret=secret)
        if category == Category.COPYRIGHT:
            receipt.dmca_missing = request.dmca_notice.missing()
        if category == Category.OPT_OUT:
            for domain in _claimable_domains(identifiers):
                try:
                    receipt.claims.append(domain_claim_start(request=request, domain=domain))
                except TakedownError as exc:
                    receipt.claim_errors.append(str(exc))
            receipt.approved = opt_out_auto_approve(request=request)
    request.refresh_from_db()
    return receipt


def _claimable_domains(identifiers: list[ParsedIdentifier]) -> list[str]:
    domains: list[str] = []
    for ident in identifiers:
        if ident.kind == ids.DOMAIN:
            domain = ident.value
        elif ident.kind == ids.URL_PREFIX:
            domain = urlsplit(ident.value).hostname or ""
        else:
            continue
        if domain and domain not in domains:
            domains.append(domain)
    return domains


# ---------------------------------------------------------------- opt-out domain proofs


def claim_check(*, request: RemovalRequest, claim_id) -> DomainClaim:
    """Check one of the request's domain claims now (it may approve the opt-out under the policy)."""
    try:
        claim = request.domain_claims.get(pk=int(claim_id))
    except (ValueError, TypeError, DomainClaim.DoesNotExist):
        raise TakedownError("that domain claim is not part of this request") from None
    return domain_claim_check(claim=claim)


def notice_complete(*, request: RemovalRequest, dmca: dict) -> list[str]:
    """The requester completes (or corrects) the DMCA notice of their copyright report; returns what it still lacks.

    Only while the request waits for a decision: a complete notice moves a
    request sent back for it to triage (apps.removals.legal.dmca_notice_record).
    """
    if request.category != Category.COPYRIGHT:
        raise TakedownError("only copyright reports carry a DMCA notice")
    if request.status not in OPEN_STATUSES:
        raise TakedownError(f"this report is already {request.get_status_display().lower()}: "
                            "its notice can no longer be changed")
    return dmca_notice_record(request=request, actor=PUBLIC_ACTOR, **dmca).missing()


def public_error(message: str) -> str:
    """A fetch error as the public sees it, without the operator's setting names."""
    return message.split(" (set WEBHOOKS_ALLOW_PRIVATE_ADDRESSES")[0]


# ---------------------------------------------------------------- status


def status_lookup(*, tracking_id: str, secret: str) -> RemovalRequest | None:
    """The request when the tracking id and secret match; None otherwise (no hint which was wrong)."""
    tracking_id, secret = (tracking_id or "").strip(), (secret or "").strip()
    if not tracking_id or not secret or len(tracking_id) > 40 or len(secret) > 200:
        return None
    return request_status_for(tracking_id=tracking_id, secret=secret)


def status_token(request: RemovalRequest) -> str:
    """A short-lived token for the status page's own forms (check now, CSV), so the secret is typed once.

    It is bound to the current secret: issuing a new secret voids it.
    """
    return signing.dumps({"r": request.pk, "h": request.status_secret_hash[:16]}, salt=_TOKEN_SALT)


def status_from_token(token: str) -> RemovalRequest | None:
    """The request a status-page token was issued for, if it is genuine, recent and its secret unchanged."""
    try:
        data = signing.loads(token or "", salt=_TOKEN_SALT, max_age=STATUS_TOKEN_SECONDS)
        request = RemovalRequest.objects.filter(pk=int(data["r"])).first()
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    if request is None or not request.status_secret_hash or request.status_secret_hash[:16] != data.get("h"):
        return None
    return request


@dataclass
class StatusReport:
    """What the requester may see: never identifiers of csam/ncii, matches or internal notes; counts only."""

    request: RemovalRequest
    identifier_count: int
    matched_samples: int | None
    dmca_missing: list[str] | None
    claims: list[DomainClaim]
    recipients: list[Recipient] | None
    extension: object = None


def status_report(request: RemovalRequest) -> StatusReport:
    restricted = request.category in RESTRICTED_CATEGORIES
    matched = None
    if not restricted:
        matched = request.identifiers.aggregate(total=Sum("match_count"))["total"] or 0
    dmca_missing = None
    if request.category == Category.COPYRIGHT and hasattr(request, "dmca_notice"):
        dmca_missing = request.dmca_notice.missing()
    return StatusReport(
        request=request,
        identifier_count=request.identifiers.count(),
        matched_samples=matched,
        dmca_missing=dmca_missing,
        claims=list(request.domain_claims.order_by("domain")) if request.category == Category.OPT_OUT else [],
        recipients=request_recipients(request=request) if request.category == Category.PRIVACY else None,
        extension=getattr(request, "erasure_extension", None) if request.category == Category.PRIVACY else None,
    )


def recipients_rows(request: RemovalRequest) -> list[list[str]]:
    """The GDPR Art. 19 list as CSV rows (header first): every mirror told, and whether it applied it."""
    if request.category != Category.PRIVACY:
        raise TakedownError("the list of recipients is kept for privacy (GDPR erasure) requests")
    return mirror_recipients_rows(request=request, contact=False)
