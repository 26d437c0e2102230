"""Numbers of the spread report as people read them: "57.1 %", "0.1 %", "1.292 %".

The warehouse keeps exact decimals (a share as 0.571429, a threshold as 0.1000000000); these
functions decide only how many digits a reader sees. Missing values read as a dash.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from ingest.spreads.monitor.quotes import format_decimal

MISSING = "–"
SPREAD_SIGNIFICANT_DIGITS = 4


def share(value: Decimal | None) -> str:
    """A share of time (0.571429) as a percentage with one decimal place: "57.1 %"."""
    if value is None:
        return MISSING
    return f"{(value * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)} %"


def threshold(value: Decimal) -> str:
    """A threshold in percent, without trailing zeros: 0.1000000000 -> "0.1 %"."""
    return f"{format_decimal(value)} %"


def spread(value: Decimal | None) -> str:
    """A spread in percent to four significant digits: 1.2919896641 -> "1.292 %"."""
    if value is None:
        return MISSING
    return f"{significant(value, SPREAD_SIGNIFICANT_DIGITS)} %"


def significant(value: Decimal, digits: int) -> str:
    """`value` rounded half up to `digits` significant digits, in plain notation (0.05000)."""
    if value.is_zero():
        return "0"
    # The place of the last kept digit, counted as a power of ten.
    exponent = value.adjusted() - digits + 1
    rounded = value.quantize(Decimal(1).scaleb(exponent), ROUND_HALF_UP)
    if rounded.adjusted() > value.adjusted():
        # Rounding carried into a new leading digit (9.9996 -> 10.00): drop the extra place.
        rounded = rounded.quantize(Decimal(1).scaleb(exponent + 1), ROUND_HALF_UP)
    return format(rounded, "f")


def price(value: Decimal | None) -> str:
    """A price exactly as quoted, without trailing zeros and with thousands separators."""
    if value is None:
        return MISSING
    whole, _, fraction = format_decimal(value).partition(".")
    grouped = f"{int(whole):,}"
    return f"{grouped}.{fraction}" if fraction else grouped


def duration(seconds: int) -> str:
    """Whole seconds as "45 s", "12 min 05 s", "3 h 04 min"."""
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"


def moment(value: datetime | None) -> str:
    """A timestamp in UTC to the second: "2026-12-02 00:53:22 UTC"."""
    if value is None:
        return MISSING
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
