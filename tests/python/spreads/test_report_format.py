"""The report's numbers as people read them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from ingest.spreads import report_format


@pytest.mark.parametrize(
    ("share", "shown"),
    [
        (Decimal("0.571429"), "57.1 %"),
        (Decimal("0.000500"), "0.1 %"),  # half up, as the models round
        (Decimal("0.000499"), "0.0 %"),
        (Decimal("1"), "100.0 %"),
        (Decimal("0"), "0.0 %"),
        (None, "–"),
    ],
)
def test_a_share_of_time_is_a_percentage_with_one_decimal(share, shown):
    assert report_format.share(share) == shown


@pytest.mark.parametrize(
    ("threshold", "shown"),
    [(Decimal("0.1000000000"), "0.1 %"), (Decimal("1.0"), "1 %"), (Decimal("0.25"), "0.25 %")],
)
def test_a_threshold_loses_its_trailing_zeros(threshold, shown):
    assert report_format.threshold(threshold) == shown


@pytest.mark.parametrize(
    ("spread", "shown"),
    [
        (Decimal("1.2919896641"), "1.292 %"),
        (Decimal("0.1744186047"), "0.1744 %"),
        (Decimal("0.05"), "0.05000 %"),
        (Decimal("0.0000123456"), "0.00001235 %"),
        (Decimal("12.34567"), "12.35 %"),
        (Decimal("9.99961"), "10.00 %"),  # rounding that adds a digit keeps four
        (Decimal("123456"), "123500 %"),
        (Decimal("0E-10"), "0 %"),
        (None, "–"),
    ],
)
def test_a_spread_has_four_significant_digits(spread, shown):
    assert report_format.spread(spread) == shown


def test_a_price_is_exact_with_thousands_separators():
    assert report_format.price(Decimal("1547200.000000000000000000")) == "1,547,200"
    assert report_format.price(Decimal("17.190000")) == "17.19"
    assert report_format.price(Decimal("0.00001234")) == "0.00001234"
    assert report_format.price(None) == "–"


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0, "0 s"), (45, "45 s"), (725, "12 min 05 s"), (11_040, "3 h 04 min")]
)
def test_a_duration_reads_in_hours_minutes_and_seconds(seconds, shown):
    assert report_format.duration(seconds) == shown


def test_a_moment_is_shown_in_utc():
    moment = datetime(2026, 3, 1, 20, 30, 5, tzinfo=timezone(timedelta(hours=-6)))
    assert report_format.moment(moment) == "2026-03-02 02:30:05 UTC"
    assert report_format.moment(datetime(2026, 3, 2, tzinfo=UTC)) == "2026-03-02 00:00:00 UTC"
