"""{% console_overview as overview %}: the Overview on the admin index (templates/admin/index.html).

Django's admin index view gives its template no hook for more context, so the index template asks for it here;
this is the thin view: it checks the role and puts the selectors' answers (apps.console.overview) and their
charts (apps.console.charts) together.
"""
from django import template

from apps.console import charts, overview
from apps.core import roles

register = template.Library()


@register.simple_tag(takes_context=True)
def console_overview(context) -> dict:
    user = context["request"].user
    if not roles.has_role(user, roles.INTAKE):  # every staff role holds intake
        return {"shown": False}
    weekly = overview.requests_weekly()
    weeks = [f"{day:%d %b}" for day in weekly.weeks]
    series = [(key, label, charts.CATEGORY_COLOURS.get(key, "#757575")) for key, label in weekly.categories]
    publish, acknowledged = overview.time_to_publish(), overview.time_to_last_ack()
    lag = overview.mirror_lag_history()
    return {
        "shown": True,
        "deadlines": overview.requests_by_deadline(user=user),
        "mirrors": overview.mirrors_behind(),
        "webhooks": overview.webhooks_failing(),
        "background": overview.background_state(),
        "releases": overview.releases_state(),
        "audit": overview.audit_recent(user=user) if user.has_perm("audit.view_auditevent") else None,
        "weekly": weekly,
        "weekly_rows": [(week, sum(weekly.received[c][i] for c, _ in weekly.categories),
                         sum(weekly.completed[c][i] for c, _ in weekly.categories),
                         ", ".join(f"{label} {weekly.received[c][i]}" for c, label in weekly.categories
                                   if weekly.received[c][i]))
                        for i, week in enumerate(weekly.weeks)],
        "received_chart": charts.stacked_columns(
            chart_id="chart-received", title=f"Requests received per week, by category (last {len(weeks)} weeks)",
            labels=weeks, series=series, values=weekly.received),
        "completed_chart": charts.stacked_columns(
            chart_id="chart-completed", title=f"Requests completed per week, by category (last {len(weeks)} weeks)",
            labels=weeks, series=series, values=weekly.completed),
        "publish": publish,
        "publish_chart": charts.columns(chart_id="chart-publish", title="Time from receipt to publication",
                                        bars=publish.buckets),
        "acknowledged": acknowledged,
        "acknowledged_chart": charts.columns(
            chart_id="chart-acknowledged", title="Time from receipt to the last mirror's acknowledgement",
            bars=acknowledged.buckets, colour="#2e7d32"),
        "lag": lag,
        "lag_chart": charts.lines(
            chart_id="chart-lag", title=f"Blocklist versions each mirror was behind, per day (last {len(lag.days)} "
                                        "days)",
            labels=[f"{day:%d %b}" for day in lag.days], series=[(m.name, points) for m, points in lag.series]),
        "lag_rows": [(mirror, max(points, default=0), points[-1] if points else 0) for mirror, points in lag.series],
        "weeks": overview.WEEKS,
    }
