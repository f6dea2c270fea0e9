"""The console's charts as inline SVG, drawn here from numbers (no JavaScript, no assets).

Each chart is an <svg role="img"> with a <title> and an aria-label saying what it shows; every mark has its
own <title> (a tooltip with its value), and the page beside it gives the numbers as a table.
"""
import math

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH = 640
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 10, 40
PLOT_HEIGHT = 170
FONT = 'font-size="11" font-family="sans-serif"'

# One colour per request category, and a fallback for series beyond them.
CATEGORY_COLOURS = {"csam": "#6a1b9a", "ncii": "#ad1457", "copyright": "#1565c0", "privacy": "#2e7d32",
                    "opt_out": "#ef6c00", "other": "#757575"}
PALETTE = ["#1565c0", "#c62828", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#5d4037", "#757575"]


def nice_step(maximum: int, ticks: int = 5) -> int:
    """A round step (1, 2 or 5 times a power of ten) giving at most `ticks` intervals up to maximum."""
    if maximum <= ticks:
        return 1
    raw = maximum / ticks
    power = 10 ** math.floor(math.log10(raw))
    return int(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def _axis(maximum: int) -> tuple[int, int]:
    """(step, top of the axis) for values up to `maximum`."""
    step = nice_step(maximum)
    return step, step * max(1, math.ceil(maximum / step))


def _frame(title: str, description: str, height: int, body: SafeString, chart_id: str) -> SafeString:
    return format_html(
        '<svg id="{}" class="chart" role="img" aria-labelledby="{}-title" aria-label="{}" viewBox="0 0 {} {}" '
        'width="100%" style="max-width:{}px" xmlns="http://www.w3.org/2000/svg"><title id="{}-title">{}</title>'
        "{}</svg>", chart_id, chart_id, description, WIDTH, height, WIDTH, chart_id, title, body)


def _y_axis(top_value: int, step: int, plot_top: int, plot_bottom: int) -> SafeString:
    scale = (plot_bottom - plot_top) / top_value
    return format_html_join("", '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#ddd"/>'
                                '<text x="{}" y="{}" text-anchor="end" ' + FONT + ' fill="#555">{}</text>', [
        (LEFT, WIDTH - RIGHT, round(plot_bottom - v * scale, 1), round(plot_bottom - v * scale, 1), LEFT - 6,
         round(plot_bottom - v * scale + 4, 1), v) for v in range(0, top_value + 1, step)])


LEGEND_ROW = 16


def _legend(series: list[tuple[str, str, str]], y: int) -> tuple[SafeString, int]:
    """Swatches and names from the left, wrapped onto as many rows as needed: (the marks, their height)."""
    items, x, row = [], LEFT, 0
    for _, label, colour in series:
        width = 14 + 7 * len(label) + 18
        if x > LEFT and x + width > WIDTH:
            x, row = LEFT, row + 1
        top = y + row * LEGEND_ROW
        items.append((x, top, colour, x + 14, top + 9, label))
        x += width
    marks = format_html_join("", '<rect x="{}" y="{}" width="10" height="10" fill="{}"/>'
                                 '<text x="{}" y="{}" ' + FONT + '>{}</text>', items)
    return marks, (row + 1) * LEGEND_ROW if items else 0


def stacked_columns(*, chart_id: str, title: str, labels: list[str], series: list[tuple[str, str, str]],
                    values: dict[str, list[int]], unit: str = "requests") -> SafeString:
    """Columns, one per label, each stacking the series (key, label, colour) in order; a legend below when
    there is more than one series."""
    totals = [sum(values[key][i] for key, _, _ in series) for i in range(len(labels))]
    step, top_value = _axis(max(totals, default=0))
    plot_top, plot_bottom = TOP, TOP + PLOT_HEIGHT
    scale = (plot_bottom - plot_top) / top_value
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    bar = min(48.0, slot * 0.7)
    marks = []
    for i, label in enumerate(labels):
        x = LEFT + i * slot + (slot - bar) / 2
        y = float(plot_bottom)
        for key, series_label, colour in series:
            value = values[key][i]
            if not value:
                continue
            height = value * scale
            y -= height
            marks.append(format_html('<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {} {} {}'
                                     "</title></rect>", round(x, 1), round(y, 1), round(bar, 1), round(height, 1),
                                     colour, label, value, series_label if len(series) > 1 else "", unit))
        marks.append(format_html('<text x="{}" y="{}" text-anchor="middle" ' + FONT + ' fill="#555">{}</text>',
                                 round(LEFT + i * slot + slot / 2, 1), plot_bottom + 14, label))
    legend, legend_height = _legend(series, plot_bottom + 24) if len(series) > 1 else ("", 0)
    height = plot_bottom + 24 + legend_height + 4
    body = format_html("{}{}{}", _y_axis(top_value, step, plot_top, plot_bottom), mark_safe("".join(marks)), legend)
    described = ", ".join(f"{label} {total}" for label, total in zip(labels, totals, strict=True))
    return _frame(title, f"{title}: {described}", height, body, chart_id)


def columns(*, chart_id: str, title: str, bars: list[tuple[str, int]], colour: str = "#205493",
            unit: str = "requests") -> SafeString:
    """One column per (label, value): a histogram's buckets."""
    return stacked_columns(chart_id=chart_id, title=title, labels=[label for label, _ in bars],
                           series=[("n", unit, colour)], values={"n": [n for _, n in bars]}, unit=unit)


def lines(*, chart_id: str, title: str, labels: list[str], series: list[tuple[str, list[int]]],
          unit: str = "versions behind", every: int = 5) -> SafeString:
    """One line per (name, values) over the labels (days), with a label under every `every`th one."""
    step, top_value = _axis(max((max(v, default=0) for _, v in series), default=0))
    plot_top, plot_bottom = TOP, TOP + PLOT_HEIGHT
    scale = (plot_bottom - plot_top) / top_value
    span = max(1, len(labels) - 1)
    width = WIDTH - LEFT - RIGHT

    def x(i: int) -> float:
        return round(LEFT + i * width / span, 1)

    marks = []
    named = [(name, values, PALETTE[n % len(PALETTE)]) for n, (name, values) in enumerate(series)]
    for name, values, colour in named:
        points = " ".join(f"{x(i)},{round(plot_bottom - v * scale, 1)}" for i, v in enumerate(values))
        marks.append(format_html('<polyline points="{}" fill="none" stroke="{}" stroke-width="2"><title>{}'
                                 "</title></polyline>", points, colour, name))
        marks.append(format_html_join("", '<circle cx="{}" cy="{}" r="2.5" fill="{}"><title>{} {}: {} {}</title>'
                                          "</circle>", [(x(i), round(plot_bottom - v * scale, 1), colour, name,
                                                         labels[i], v, unit) for i, v in enumerate(values)]))
    marks.append(format_html_join("", '<text x="{}" y="{}" text-anchor="middle" ' + FONT + ' fill="#555">{}'
                                      "</text>", [(x(i), plot_bottom + 14, label) for i, label in enumerate(labels)
                                                  if i % every == 0 or i == len(labels) - 1]))
    legend, legend_height = _legend([(name, name, colour) for name, _, colour in named], plot_bottom + 24)
    body = format_html("{}{}{}", _y_axis(top_value, step, plot_top, plot_bottom), mark_safe("".join(marks)), legend)
    latest = ", ".join(f"{name} {values[-1] if values else 0}" for name, values, _ in named) or "no mirrors"
    return _frame(title, f"{title}; today: {latest}", plot_bottom + 24 + legend_height + 4, body, chart_id)


def heat_colour(value: int, most: int) -> str:
    """White-grey for none, then from pale yellow to dark red on a logarithmic scale up to `most`."""
    if value <= 0 or most <= 0:
        return "#eeeeee"
    share = math.log1p(value) / math.log1p(most)
    stops = [(255, 237, 160), (254, 178, 76), (240, 59, 32), (128, 0, 38)]
    position = share * (len(stops) - 1)
    low = min(int(position), len(stops) - 2)
    t = position - low
    rgb = [round(a + (b - a) * t) for a, b in zip(stops[low], stops[low + 1], strict=True)]
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def heatmap(*, chart_id: str, title: str, cells) -> SafeString:
    """A grid of cells (label, samples, removed), in order, left to right then down, coloured by `removed`; cells
    are larger, and show their count, when there are few."""
    most = max((c.removed for c in cells), default=0)
    cell, columns_max = (40, 20) if len(cells) <= 200 else (20, 40) if len(cells) <= 1200 else (12, 80)
    gap = 2
    columns = max(1, min(columns_max, len(cells)))
    rows = math.ceil(len(cells) / columns) if cells else 0
    size = cell + gap
    marks = format_html_join("", '<rect x="{}" y="{}" width="{}" height="{}" fill="{}" stroke="#ccc" '
                                 'stroke-width="0.5" data-shard="{}" data-removed="{}"><title>{}: {} removed of {} '
                                 "samples</title></rect>", [
        ((i % columns) * size, (i // columns) * size, cell, cell, heat_colour(c.removed, most), c.label, c.removed,
         c.label, c.removed, c.samples) for i, c in enumerate(cells)])
    if cell >= 40:  # the count written in each cell, white on the darker half of the scale
        marks += format_html_join("", '<text x="{}" y="{}" text-anchor="middle" ' + FONT + ' fill="{}" '
                                      'pointer-events="none" aria-hidden="true">{}</text>', [
            ((i % columns) * size + cell / 2, (i // columns) * size + cell / 2 + 4,
             "#fff" if most and c.removed and math.log1p(c.removed) / math.log1p(most) > 0.5 else "#333", c.removed)
            for i, c in enumerate(cells)])
    width, height = max(1, columns * size), max(1, rows * size)
    hit = sum(1 for c in cells if c.removed)
    return format_html(
        '<svg id="{}" class="chart heatmap" role="img" aria-labelledby="{}-title" aria-label="{}" '
        'viewBox="0 0 {} {}" width="{}" height="{}" xmlns="http://www.w3.org/2000/svg"><title id="{}-title">{}'
        "</title>{}</svg>", chart_id, chart_id,
        f"{title}: {len(cells)} cells, {hit} with removed samples, at most {most} in one", width, height, width,
        height, chart_id, title, marks)
