"""The public pages: report form, receipt, status page. No login; every POST is rate-limited per client IP."""
import csv
import io
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from apps.core import ratelimit
from apps.core.categories import RESTRICTED_CATEGORIES
from apps.core.errors import TakedownError
from apps.intake.forms import CHOICES, FORMS, DmcaNoticeForm, ReportForm
from apps.intake.services import (
    claim_check,
    notice_complete,
    public_error,
    recipients_rows,
    report_submit,
    status_from_token,
    status_lookup,
    status_report,
    status_token,
)
from apps.removals.legal import dmca_notice_fields, domain_proof_url
from apps.removals.models import OPEN_STATUSES

NONCE_SECONDS = 24 * 3600
HOTLINES = [
    ("NCMEC CyberTipline (United States)", "https://report.cybertip.org/"),
    ("Internet Watch Foundation (United Kingdom)", "https://report.iwf.org.uk/"),
    ("Cybertip.ca, Canadian Centre for Child Protection", "https://www.cybertip.ca/"),
]


def no_uploads(view):
    """Refuse multipart bodies before anything parses them, so no uploaded byte is read or stored.

    CSRF is checked after that refusal (csrf_protect on the inner view), so the
    middleware does not parse a multipart body to look for its token first.
    """
    protected = csrf_protect(view)

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method == "POST" and (request.content_type or "").lower().startswith("multipart/"):
            return _upload_refused(request)
        return protected(request, *args, **kwargs)

    return csrf_exempt(wrapper)


def _upload_refused(request):
    return render(request, "intake/upload_refused.html", status=400)


def _limited(request, *, scope: str, limit: int, what: str):
    """None when the client may go on; otherwise the 429 page (nothing was done)."""
    verdict = ratelimit.hit(scope=scope, ip=ratelimit.client_ip(request), limit=limit)
    if verdict.allowed:
        return None
    response = render(request, "intake/rate_limited.html", {
        "what": what, "what_per_limit": what if verdict.limit != 1 else what.removesuffix("s"), "limit": verdict.limit,
        "minutes": max(1, round(verdict.retry_after / 60)),
    }, status=429)
    response["Retry-After"] = str(verdict.retry_after)
    return response


# ---------------------------------------------------------------- report


@never_cache
@require_http_methods(["GET", "POST"])
@no_uploads
def report(request):
    if request.method == "POST":
        return _report_post(request)
    category = request.GET.get("category", "")
    if not category:
        return _choose(request)
    form_class = FORMS.get(category)
    if form_class is None:
        return _choose(request, error=f"There is no category {category[:40]!r}: choose one below.", status=404)
    return _form_page(request, form_class())


def _choose(request, *, error: str = "", status: int = 200):
    return render(request, "intake/choose.html", {"choices": CHOICES, "error": error, "hotlines": HOTLINES},
                  status=status)


def _form_page(request, form: ReportForm, *, status: int = 200):
    return render(request, "intake/report_form.html", {"form": form, "hotlines": HOTLINES}, status=status)


def _report_post(request):
    limited = _limited(request, scope="report", limit=settings.INTAKE_REPORTS_PER_HOUR, what="reports")
    if limited:
        return limited
    if request.FILES:
        return _upload_refused(request)
    form_class = FORMS.get(request.POST.get("category", ""))
    if form_class is None:
        return _choose(request, error="Choose what kind of report this is.", status=400)
    form = form_class(request.POST)
    if not form.is_valid():
        return _form_page(request, form)
    # A form sent twice (reload, double click) makes one request: its receipt was shown the first time.
    nonce_key = f"intake:nonce:{form.cleaned_data['nonce']}" if form.cleaned_data["nonce"] else None
    if nonce_key and not cache.add(nonce_key, "", NONCE_SECONDS):
        return render(request, "intake/already_sent.html", {"tracking_id": cache.get(nonce_key)}, status=409)
    try:
        receipt = report_submit(**form.submission())
    except TakedownError as exc:
        if nonce_key:
            cache.delete(nonce_key)
        form.add_error(None, str(exc))
        return _form_page(request, form)
    if nonce_key:
        cache.set(nonce_key, receipt.request.tracking_id, NONCE_SECONDS)
    # The receipt is the response to the POST itself: the secret is shown once and never put in a URL.
    return render(request, "intake/receipt.html", {
        "receipt": receipt, "request_obj": receipt.request, "hotlines": HOTLINES,
        "claims": [(claim, domain_proof_url(claim.domain)) for claim in receipt.claims],
    })


# ---------------------------------------------------------------- status


@never_cache
@require_http_methods(["GET", "POST"])
@sensitive_post_parameters("secret", "token")
@no_uploads
def status(request):
    if request.method == "GET":
        return _lookup_page(request)
    limited = _limited(request, scope="status", limit=settings.INTAKE_STATUS_CHECKS_PER_HOUR,
                       what="status checks")
    if limited:
        return limited
    if request.FILES:
        return _upload_refused(request)
    action = request.POST.get("action", "lookup")
    if action == "check":
        obj = status_from_token(request.POST.get("token", ""))
        if obj is None:
            return _expired(request)
        try:
            claim = claim_check(request=obj, claim_id=request.POST.get("claim", ""))
        except TakedownError as exc:
            return _status_page(request, obj, message=str(exc), status=400)
        obj.refresh_from_db()
        if claim.verified_at:
            message = f"{claim.domain}: the token is there, so the domain is proven."
        else:
            message = f"{claim.domain}: not proven yet. {public_error(claim.last_error)}"
        return _status_page(request, obj, message=message)
    if action == "dmca":
        obj = status_from_token(request.POST.get("token", ""))
        if obj is None:
            return _expired(request)
        form = DmcaNoticeForm(request.POST)
        if not form.is_valid():
            return _status_page(request, obj, dmca_form=form, status=400)
        try:
            missing = notice_complete(request=obj, dmca=form.dmca())
        except TakedownError as exc:
            return _status_page(request, obj, message=str(exc), status=400)
        obj.refresh_from_db()
        message = ("Thank you: your notice is now complete, and a reviewer will look at it." if not missing else
                   "Your notice still lacks: " + "; ".join(missing) + ".")
        return _status_page(request, obj, message=message)
    tracking_id, secret = request.POST.get("tracking_id", ""), request.POST.get("secret", "")
    errors = {}
    if not tracking_id.strip():
        errors["tracking_id"] = "Enter the tracking id from your receipt (it starts with TD-)."
    if not secret.strip():
        errors["secret"] = "Enter the secret from your receipt."
    if errors:
        return _lookup_page(request, tracking_id=tracking_id, errors=errors, status=400)
    obj = status_lookup(tracking_id=tracking_id, secret=secret)
    if obj is None:
        return _lookup_page(request, tracking_id=tracking_id, status=404, errors={
            "form": "No request matches that tracking id and secret. Check both against your receipt."})
    return _status_page(request, obj)


def _lookup_page(request, *, tracking_id: str = "", errors: dict | None = None, status: int = 200):
    return render(request, "intake/status_lookup.html",
                  {"tracking_id": tracking_id[:40], "errors": errors or {}}, status=status)


def _expired(request):
    return _lookup_page(request, status=400, errors={
        "form": "This status page has expired. Enter your tracking id and secret again."})


def _status_page(request, obj, *, message: str = "", status: int = 200, dmca_form=None):
    report = status_report(obj)
    if dmca_form is None and report.dmca_missing and obj.status in OPEN_STATUSES:
        dmca_form = DmcaNoticeForm(initial=dmca_notice_fields(obj))
    return render(request, "intake/status.html", {
        "dmca_form": dmca_form,
        "report": report, "request_obj": obj, "token": status_token(obj), "message": message,
        "claims": [(claim, domain_proof_url(claim.domain), public_error(claim.last_error))
                   for claim in report.claims],
        "restricted": obj.category in RESTRICTED_CATEGORIES,
    }, status=status)


@never_cache
@require_POST
@sensitive_post_parameters("token")
@no_uploads
def recipients_csv(request):
    """GDPR Art. 19: the mirrors told of a privacy request's erasure, for the data subject to keep."""
    limited = _limited(request, scope="status", limit=settings.INTAKE_STATUS_CHECKS_PER_HOUR,
                       what="status checks")
    if limited:
        return limited
    obj = status_from_token(request.POST.get("token", ""))
    if obj is None:
        return _expired(request)
    try:
        rows = recipients_rows(obj)
    except TakedownError as exc:
        return _status_page(request, obj, message=str(exc), status=400)
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{obj.tracking_id}-recipients.csv"'
    return response
