"""core.ratelimit.parse_rate: "N/period" rates."""

from __future__ import annotations

import pytest

from core.ratelimit import parse_rate


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [
        ("10/min", (10, 60)),
        ("10/m", (10, 60)),
        ("1/s", (1, 1)),
        ("5/sec", (5, 1)),
        ("100/hour", (100, 3600)),
        ("3/h", (3, 3600)),
        ("2/day", (2, 86400)),
        ("7/d", (7, 86400)),
        ("5/10min", (5, 600)),
        ("5/15s", (5, 15)),
        (" 5/ MIN ", (5, 60)),
        ("0/min", (0, 60)),
        ("2147483647/366d", (2147483647, 366 * 86400)),
    ],
)
def test_good_rates(rate, parsed):
    assert parse_rate(rate) == parsed


@pytest.mark.parametrize(
    "rate",
    [
        *("", "10", "10/", "/min", "ten/min", "10/minute", "10/week", "-1/min", "1.5/min", "10/min/s"),
        *("10/m5", "5/0s", "5/00min", "5/367d", "5/99999999999999999999d", "2147483648/min"),
        *("\uff15/min", "5/\u00b2min"),  # a fullwidth 5, a superscript 2: digits to isdigit()
    ],
)
def test_bad_rates_are_refused(rate):
    with pytest.raises(ValueError, match="Unrecognised rate"):
        parse_rate(rate)
