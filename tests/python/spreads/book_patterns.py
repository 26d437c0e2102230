"""Book pattern lists as the thresholds seed holds them, and how the monitor matches them: the
episode model's `book_in_rule` must give the same answers on every engine."""

from __future__ import annotations

import fnmatch
import json

PATTERN_LISTS = (
    "",
    "btc_mxn",
    "btc_*",
    "btc_* usd_mxn",
    "?th_btc",
    "usd_[!a]xn",
    "[a-c]tc_mxn eth_*",
    "*_btc",
)
BOOKS_TRIED = ("btc_mxn", "btc_usd", "usd_mxn", "usd_axn", "eth_btc", "xbtc_mxn", "ctc_mxn", "btc")
CASES = tuple((book, patterns) for book in BOOKS_TRIED for patterns in PATTERN_LISTS)

# For `dbt show --inline`: every case, and a null list (every book, as an empty one).
QUERY = (
    "select book, books, {{ book_in_rule('book', 'books') }} as is_in_rule from (values "
    + ", ".join(f"('{book}', '{patterns}')" for book, patterns in CASES)
    + ", ('btc_mxn', null)) as cases (book, books)"
)
SHOW_ARGS = ("show", "--inline", QUERY, "--output", "json", "--limit", "-1")


def monitor_matches(book: str, patterns: str) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(book, p) for p in patterns.split())


def check_shown_matches(stdout: str) -> None:
    """Asserts that the JSON of `dbt --quiet show` answers every case as the monitor does."""
    rows = json.loads(stdout[stdout.index("{") :])["show"]
    matched = {(row["book"], row["books"] or ""): row["is_in_rule"] for row in rows}
    assert len(rows) == len(CASES) + 1 and matched[("btc_mxn", "")] is True
    assert matched == {case: monitor_matches(*case) for case in CASES}
