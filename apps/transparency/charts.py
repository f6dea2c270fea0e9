"""Geometry of the report's bar charts, drawn by the template as inline SVG (no JavaScript, no assets)."""
import math
from dataclasses import dataclass, field

WIDTH = 600
LABEL_WIDTH = 210
RIGHT_MARGIN = 40
TOP = 12
LEGEND_ROW = 22
CHAR_WIDTH = 7  # a generous average at the chart's 12px font
BAR_HEIGHT = 22
BAR_GAP = 12
AXIS_HEIGHT = 24


@dataclass(frozen=True)
class Segment:
    key: str
    label: str
    value: int
    x: float
    width: float


@dataclass(frozen=True)
class Bar:
    label: str
    total: int
    y: float
    segments: list[Segment]
    end_x: float

    @property
    def text_y(self) -> float:
        return self.y + BAR_HEIGHT / 2

    @property
    def value_x(self) -> float:
        return round(self.end_x + 6, 1)


@dataclass(frozen=True)
class Tick:
    value: int
    x: float


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    bars: list[Bar]
    ticks: list[Tick]
    legend: list[dict] = field(default_factory=list)
    bar_height: int = BAR_HEIGHT

    @property
    def label_x(self) -> int:
        return self.plot_left - 8

    @property
    def tick_y(self) -> int:
        return self.plot_bottom + 16


def nice_step(maximum: int, ticks: int = 5) -> int:
    """A round step (1, 2 or 5 times a power of ten) giving at most `ticks` intervals up to maximum."""
    if maximum <= ticks:
        return 1
    raw = maximum / ticks
    power = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if multiple * power >= raw:
            return int(multiple * power)
    return int(10 * power)


def legend(series: list[tuple[str, str]]) -> list[dict]:
    """Swatches above the bars when there is more than one series, wrapped onto as many rows as needed."""
    if len(series) < 2:
        return []
    items, x, y = [], 8, TOP
    for key, label in series:
        width = 16 + CHAR_WIDTH * len(label) + 16
        if x > 8 and x + width > WIDTH:
            x, y = 8, y + LEGEND_ROW
        items.append({"key": key, "label": label, "x": x, "y": y, "text_x": x + 16, "text_y": y + 10})
        x += width
    return items


def bar_chart(rows: list[tuple[str, dict[str, int]]], series: list[tuple[str, str]]) -> Chart:
    """Horizontal bars, one per row (label, {series key: value}), stacked in series order."""
    keys = legend(series)
    top = (keys[-1]["y"] + LEGEND_ROW + 8) if keys else TOP + 6
    total_max = max((sum(values.get(k, 0) for k, _ in series) for _, values in rows), default=0)
    step = nice_step(total_max)
    axis_max = step * max(1, math.ceil(total_max / step))
    left, right = LABEL_WIDTH, WIDTH - RIGHT_MARGIN
    scale = (right - left) / axis_max
    bars = []
    for index, (label, values) in enumerate(rows):
        y = top + index * (BAR_HEIGHT + BAR_GAP)
        x, segments = float(left), []
        for key, series_label in series:
            value = values.get(key, 0)
            if value:
                segments.append(Segment(key=key, label=series_label, value=value, x=round(x, 1),
                                        width=round(value * scale, 1)))
                x += value * scale
        bars.append(Bar(label=label, total=sum(s.value for s in segments), y=y, segments=segments,
                        end_x=round(x, 1)))
    bottom = top + len(rows) * (BAR_HEIGHT + BAR_GAP) - BAR_GAP // 2
    ticks = [Tick(value=v, x=round(left + v * scale, 1)) for v in range(0, axis_max + 1, step)]
    return Chart(width=WIDTH, height=bottom + AXIS_HEIGHT, plot_left=left, plot_right=right, plot_top=top - 6,
                 plot_bottom=bottom, bars=bars, ticks=ticks, legend=keys)
