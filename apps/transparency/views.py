"""The public transparency report: a page with charts and tables, and the same figures as CSV. No login."""
import csv

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from apps.transparency import charts
from apps.transparency.selectors import DURATIONS, OUTCOMES, TOTAL, Period, PeriodError, Report, report

CSV_HEADER = ("period", "section", "group", "value")
RECENT_MONTHS = 24
RECENT_QUARTERS = 8


def _requested_period(request: HttpRequest, now, *, default: Period) -> Period:
    raw = request.GET.get("period", "")
    if not raw.strip():
        return default
    period = Period.parse(raw)
    if not period.has_started(now):
        raise PeriodError(f"{period} has not started yet: choose a period up to {Period.month_of(now)}")
    return period


def _bad_period(request: HttpRequest, error: PeriodError, now) -> HttpResponse:
    return render(request, "transparency/bad_period.html", {
        "error": str(error), "latest": Period.latest_complete_month(now),
    }, status=400)


def _hours(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _selector(period: Period, now) -> dict:
    """Links and choices of the period selector."""
    previous, following = period.previous(), period.next()
    months, quarters, month = [], [], Period.month_of(now)
    for _ in range(RECENT_MONTHS):
        months.append(month)
        month = month.previous()
    quarter = Period.month_of(now).as_quarter()
    for _ in range(RECENT_QUARTERS):
        quarters.append(quarter)
        quarter = quarter.previous()
    # An older period than the recent ones listed is still the one selected.
    if period not in months and period not in quarters:
        (months if period.is_month else quarters).append(period)
    return {
        "previous": previous,
        "next": following if following is not None and following.has_started(now) else None,
        "month": period.as_month(now),
        "quarter": period.as_quarter(),
        "months": months,
        "quarters": quarters,
    }


def _context(data: Report, now) -> dict:
    categories = []
    for value, label in data.categories:
        categories.append({
            "value": value,
            "label": label,
            "received": data.received_by_category[value],
            "outcomes": [data.outcomes[o][value] for o, _ in OUTCOMES],
            "medians": [_hours(data.median_hours[k][value]) for k, _ in DURATIONS],
        })
    totals = {
        "received": data.received_total,
        "outcomes": [data.outcome_total(o) for o, _ in OUTCOMES],
        "medians": [_hours(data.median_hours[k][TOTAL]) for k, _ in DURATIONS],
    }
    received_chart = charts.bar_chart(
        [(label, {"received": data.received_by_category[value]}) for value, label in data.categories],
        [("received", "Requests received")],
    )
    outcome_chart = charts.bar_chart(
        [(label, {o: data.outcomes[o][value] for o, _ in OUTCOMES}) for value, label in data.categories],
        list(OUTCOMES),
    )
    channels = [{"label": label, "received": data.received_by_channel[value]} for value, label in data.channels]
    return {
        "report": data,
        "period": data.period,
        "categories": categories,
        "totals": totals,
        "channels": channels,
        "outcomes": OUTCOMES,
        "durations": DURATIONS,
        "received_chart": received_chart,
        "received_summary": "; ".join(f"{c['label']}: {c['received']}" for c in categories),
        "outcome_chart": outcome_chart,
        "outcome_summary": "; ".join(
            f"{c['label']}: " + ", ".join(f"{n} {label.lower()}" for n, (_, label) in zip(c["outcomes"], OUTCOMES))
            for c in categories),
        "selector": _selector(data.period, now),
    }


@require_safe
def report_page(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    try:
        # The page opens on the month under way (marked as still in progress); earlier ones are a click away.
        period = _requested_period(request, now, default=Period.month_of(now))
    except PeriodError as exc:
        return _bad_period(request, exc, now)
    return render(request, "transparency/report.html", _context(report(period, now=now), now))


@require_safe
def report_csv(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    try:
        # A download without a period gets the last complete month: numbers that will not change.
        period = _requested_period(request, now, default=Period.latest_complete_month(now))
    except PeriodError as exc:
        response = HttpResponse(f"Bad period: {exc}\n", status=400, content_type="text/plain; charset=utf-8")
        return response
    data = report(period, now=now)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="takedown-transparency-{period}.csv"'
    writer = csv.writer(response, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for section, group, value in data.rows():
        if isinstance(value, float):
            value = f"{value:.1f}"
        writer.writerow((str(period), section, group, "" if value is None else value))
    return response
