import pytest

from apps.transparency.charts import bar_chart, nice_step


def test_axis_steps_are_round():
    assert [nice_step(n) for n in (0, 1, 5, 6, 12, 23, 99, 101, 4999, 123456)] == [
        1, 1, 1, 2, 5, 5, 20, 50, 1000, 50000]


def test_bars_stack_in_series_order_and_scale_to_the_axis():
    series = [("approved", "Approved"), ("rejected", "Rejected")]
    chart = bar_chart([("Copyright", {"approved": 6, "rejected": 2}), ("Other", {}), ("Privacy", {"rejected": 4})],
                      series)
    copyright_, other, privacy = chart.bars
    assert [(s.key, s.value) for s in copyright_.segments] == [("approved", 6), ("rejected", 2)]
    assert copyright_.total == 8 and other.total == 0 and other.segments == []
    approved, rejected = copyright_.segments
    assert approved.x == chart.plot_left and rejected.x == pytest.approx(approved.x + approved.width, abs=0.11)
    assert privacy.segments[0].width == pytest.approx(rejected.width * 2, abs=0.11)
    # The axis ends on a round number at or above the longest bar, which it never passes.
    assert [t.value for t in chart.ticks] == [0, 2, 4, 6, 8]
    assert chart.ticks[-1].x == chart.plot_right
    assert max(bar.end_x for bar in chart.bars) <= chart.plot_right
    assert [item["label"] for item in chart.legend] == ["Approved", "Rejected"]
    assert copyright_.y < other.y < privacy.y and chart.height > privacy.y


def test_a_single_series_has_no_legend_and_an_empty_chart_still_has_an_axis():
    chart = bar_chart([("Copyright", {"received": 0})], [("received", "Requests received")])
    assert chart.legend == []
    assert [t.value for t in chart.ticks] == [0, 1]


def test_a_long_legend_wraps_inside_the_chart():
    series = [(f"s{i}", f"A rather long series label {i}") for i in range(6)]
    chart = bar_chart([("Row", {"s0": 1})], series)
    assert len({item["y"] for item in chart.legend}) > 1
    assert all(item["x"] < chart.width for item in chart.legend)
    assert chart.bars[0].y > chart.legend[-1]["y"]
