from datetime import UTC, datetime

import pytest

from apps.transparency.selectors import Period, PeriodError


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize("text, kind, year, number", [
    ("2026-11", "month", 2026, 11),
    ("2026-01", "month", 2026, 1),
    ("2026-Q4", "quarter", 2026, 4),
    ("2026-q1", "quarter", 2026, 1),
    ("  2025-12 ", "month", 2025, 12),
])
def test_it_parses_months_and_quarters(text, kind, year, number):
    period = Period.parse(text)
    assert (period.kind, period.year, period.number) == (kind, year, number)
    assert Period.parse(str(period)) == period


def test_it_formats_periods():
    assert str(Period("month", 2026, 3)) == "2026-03"
    assert str(Period("quarter", 2026, 4)) == "2026-Q4"
    assert Period.parse("2026-11").label == "November 2026"
    assert Period.parse("2026-Q4").label == "Q4 2026 (October to December)"


@pytest.mark.parametrize("text", [
    "", "2026", "2026-13", "2026-00", "2026-1", "2026-Q0", "2026-Q5", "2026-Q", "26-11", "2026/11", "11-2026",
    "november", "2026-11-01", "1969-12", "2026-Ｑ4", "２０２６-11", "2026-11; drop table", "9" * 5000,
])
def test_it_refuses_what_is_not_a_period_and_names_the_formats(text):
    with pytest.raises(PeriodError) as error:
        Period.parse(text)
    message = str(error.value)
    assert "YYYY-MM" in message and "YYYY-Qn" in message
    assert len(message) < 300


def test_it_knows_where_periods_start_and_end():
    november = Period.parse("2026-11")
    assert (november.start, november.end) == (at("2026-11-01"), at("2026-12-01"))
    december = Period.parse("2026-12")
    assert (december.start, december.end) == (at("2026-12-01"), at("2027-01-01"))
    q4 = Period.parse("2026-Q4")
    assert (q4.start, q4.end) == (at("2026-10-01"), at("2027-01-01"))
    q1 = Period.parse("2026-Q1")
    assert (q1.start, q1.end) == (at("2026-01-01"), at("2026-04-01"))


def test_it_steps_back_and_forth_across_years():
    assert str(Period.parse("2026-01").previous()) == "2025-12"
    assert str(Period.parse("2025-12").next()) == "2026-01"
    assert str(Period.parse("2026-Q1").previous()) == "2025-Q4"
    assert str(Period.parse("2025-Q4").next()) == "2026-Q1"
    assert Period.parse("1970-01").previous() is None
    assert Period.parse("9999-Q4").next() is None


def test_it_switches_between_months_and_quarters():
    assert str(Period.parse("2026-11").as_quarter()) == "2026-Q4"
    assert [str(m) for m in Period.parse("2026-Q3").months()] == ["2026-07", "2026-08", "2026-09"]
    # A quarter's month: its last complete one, or its first while none is complete.
    assert str(Period.parse("2026-Q3").as_month(at("2026-11-28"))) == "2026-09"
    assert str(Period.parse("2026-Q4").as_month(at("2026-11-28"))) == "2026-10"
    assert str(Period.parse("2026-Q4").as_month(at("2026-10-05"))) == "2026-10"
    assert str(Period.parse("2026-11").as_month()) == "2026-11"


def test_the_latest_complete_month_is_the_one_before_now():
    assert str(Period.latest_complete_month(at("2026-11-28T04:00"))) == "2026-10"
    assert str(Period.latest_complete_month(at("2027-01-01T00:00"))) == "2026-12"
    assert Period.parse("2026-10").is_complete(at("2026-11-01"))
    assert not Period.parse("2026-11").is_complete(at("2026-11-28"))
    assert Period.parse("2026-11").has_started(at("2026-11-01"))
    assert not Period.parse("2026-12").has_started(at("2026-11-30T23:59:59"))
