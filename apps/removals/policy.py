"""Per-category duties (when a request is due) and what each channel may name (identifier kinds, scope)."""
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from dateutil.relativedelta import relativedelta
from django.conf import settings

from apps.core import identifiers as ids
from apps.core.categories import Category
from apps.core.csvfiles import MAX_REPORTED_ERRORS
from apps.core.errors import TakedownError
from apps.core.identifiers import ParsedIdentifier
from apps.datasets.models import Dataset
from apps.removals.models import Channel, Policy

# Kinds that name a whole site rather than a sample.
BROAD_KINDS = (ids.DOMAIN, ids.URL_PREFIX)
# Channels through which staff act (the admin, the command line).
STAFF_CHANNELS = (Channel.STAFF, Channel.CLI)

# How long each category may wait from receipt. csam: without delay, which no
# clock can be (a deadline equal to the receipt is overdue on arrival): the
# policy's working deadline of hours (Policy.csam_due_hours). ncii: 48 hours
# (the US TAKE IT DOWN Act's removal window). copyright: "expeditiously" under
# 17 USC 512(c), taken here as two days. privacy: one month (GDPR Art. 12(3)).
RESPONSE_TIME = {
    Category.NCII: timedelta(hours=48),
    Category.COPYRIGHT: timedelta(days=2),
    Category.PRIVACY: relativedelta(months=1),
    Category.OPT_OUT: timedelta(days=30),
    Category.OTHER: timedelta(days=30),
}


def due_at(category: str, received_at: datetime) -> datetime:
    """When a request of this category received at this time must be decided."""
    if category == Category.CSAM:
        return received_at + timedelta(hours=Policy.current().csam_due_hours)
    return received_at + RESPONSE_TIME[Category(category)]


# ---------------------------------------------------------------- what a request may name, and where

def _where(ident: ParsedIdentifier) -> str:
    return f"line {ident.line}" if ident.line is not None else f"{ident.kind} {ident.value[:80]}"


class ScopeMissing(TakedownError):
    """Sample keys named without the dataset they belong to (entry points that can ask for it say so there)."""


def _refuse(message: str, offending: list[ParsedIdentifier], error: type[TakedownError] = TakedownError) -> None:
    details = [f"{_where(i)}: {i.kind} {i.value[:80]}" if i.line is not None else _where(i)
               for i in offending[:MAX_REPORTED_ERRORS]]
    if len(offending) > MAX_REPORTED_ERRORS:
        details.append(f"... and {len(offending) - MAX_REPORTED_ERRORS} more")
    first = _where(offending[0])
    more = f" (and {len(offending) - 1} more)" if len(offending) > 1 else ""
    raise error(f"{first}{more}: {message}", details=details)


# How each channel names the scope and the staff permission, in the messages that ask for them.
_DATASET_HINT = {Channel.CLI: "--dataset", Channel.FLAGGER_API: "the dataset field",
                 Channel.STAFF: "the dataset", Channel.WEB_FORM: "the dataset"}
_BROAD_HINT = {Channel.CLI: " (staff may allow them for this request with --allow-broad)",
               Channel.STAFF: " (staff may allow them for this request: tick 'allow domain and URL-prefix "
                              "identifiers')"}


def identifiers_check(*, identifiers: list[ParsedIdentifier], category: str, channel: str,
                      dataset: Dataset | None, broad_allowed: bool = False) -> None:
    """Refuse what a request may not name, naming the line (or the identifier): every entry point asks this first.

    Sample keys are positional (img2dataset numbers samples by shard and row),
    so the same key names different pictures in different datasets: a request
    naming keys must say which dataset it applies to. Domains and URL prefixes
    remove every sample of a site: only opt-outs name them (and are approved
    without review only with a verified proof of control, see
    auto_approval_refused), unless staff allow them for one request of another
    category (`broad_allowed`, staff and command line only); such a request is
    never approved without review.
    """
    if dataset is None:
        keys = [i for i in identifiers if i.kind == ids.KEY]
        if keys:
            _refuse(f"key identifiers name a sample only within one dataset: give {_DATASET_HINT[channel]}", keys,
                    ScopeMissing)
    if category == Category.OPT_OUT or (broad_allowed and channel in STAFF_CHANNELS):
        return
    broad = [i for i in identifiers if i.kind in BROAD_KINDS]
    if broad:
        _refuse(f"{broad[0].kind} identifiers remove every sample of a site: only opt-out requests may name "
                f"domains and URL prefixes{_BROAD_HINT.get(channel, '')}", broad)


def within(host: str, domains: set[str]) -> bool:
    """Whether `host` is one of `domains` or a subdomain of one."""
    return any(host == d or host.endswith("." + d) for d in domains)


def broad_hosts(identifiers) -> list[str]:
    """The hosts a request's domain and URL-prefix identifiers (objects with kind and value) name."""
    hosts = []
    for ident in identifiers:
        host = ident.value if ident.kind == ids.DOMAIN else (
            urlsplit(ident.value).hostname or "" if ident.kind == ids.URL_PREFIX else None)
        if host is not None and host not in hosts:
            hosts.append(host)
    return hosts


def auto_approval_refused(request) -> str | None:
    """Why `request` may not be approved without a reviewer, whatever the review policy says; None when it may.

    A request naming domains or URL prefixes removes every sample of those
    sites: it is approved without review only when it is an opt-out whose
    requester proved control of each of them (a verified domain claim). A
    request held by the flood check waits for a reviewer's approval.
    """
    if request.flood_held:
        return f"it is held as a flood: {request.flood_detail}"
    hosts = broad_hosts(request.identifiers.filter(kind__in=BROAD_KINDS))
    if hosts:
        if request.category != Category.OPT_OUT:
            return f"it names domains or URL prefixes in a {request.category} request"
        proven = set(request.domain_claims.exclude(verified_at=None).values_list("domain", flat=True))
        unproven = [host for host in hosts if not within(host, proven)]
        if unproven:
            return f"control of {', '.join(unproven[:5])} is not proven"
    return None


# ---------------------------------------------------------------- flood quarantine

@dataclass(frozen=True)
class FloodLimits:
    max_samples: int
    max_share: float  # percent of a release's samples
    share_min_samples: int


def flood_limits(request) -> FloodLimits:
    """The flood limits of a request: its flagger's own, where the host set them, else the settings.

    The flagger is read through the request's relation (the intake app is a
    higher layer and is never imported here).
    """
    flagger = request.flagger
    own_samples = getattr(flagger, "flood_max_samples", None)
    own_share = getattr(flagger, "flood_max_share", None)
    return FloodLimits(
        max_samples=own_samples if own_samples is not None else settings.FLOOD_MAX_SAMPLES,
        max_share=own_share if own_share is not None else settings.FLOOD_MAX_SHARE,
        share_min_samples=settings.FLOOD_SHARE_MIN_SAMPLES,
    )


def flood_excess(*, limits: FloodLimits, per_release: dict, sizes: dict) -> str | None:
    """Why a request hitting `per_release` (release label: samples) is a flood, with the counts; None if it is not.

    `sizes` gives each release's sample count. A share counts once the request
    hits at least `share_min_samples` samples of the release, so one sample of
    a tiny release is not a flood.
    """
    total = sum(per_release.values())
    reasons = []
    if total > limits.max_samples:
        reasons.append(f"it would remove {total:,} samples (limit {limits.max_samples:,})")
    for label, count in sorted(per_release.items(), key=lambda item: -item[1]):
        size = sizes.get(label) or 0
        if size and count >= limits.share_min_samples and 100 * count / size > limits.max_share:
            reasons.append(f"{count:,} of {label}'s {size:,} samples ({100 * count / size:.2f}%, limit "
                           f"{limits.max_share:g}%)")
            break
    return "; ".join(reasons) or None
