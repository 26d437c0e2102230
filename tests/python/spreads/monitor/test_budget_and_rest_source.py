import logging
import random
import threading

import pytest

from ingest.spreads.monitor.bitso_rest import BitsoError
from ingest.spreads.monitor.budget import RequestBudget
from ingest.spreads.monitor.quotes import QuoteBoard
from ingest.spreads.monitor.rest_source import RATE_LIMIT_PAUSE_SECONDS, RestSource

from .conftest import T0


def busiest_minute(times):
    times = sorted(times)
    return max(sum(1 for t in times if start - 60 < t <= start) for start in times)


@pytest.mark.parametrize("per_minute", [1, 7, 50, 60])
def test_budget_holds_over_every_sliding_minute_whatever_the_callers_timing(per_minute):
    budget, rng, now, sent = RequestBudget(per_minute), random.Random(per_minute), float(T0), []
    for _ in range(500):
        now = max(now + rng.choice([0.0, 0.01, 0.5, 3.0]), budget.next_allowed(now))
        assert budget.next_allowed(now) <= now
        budget.spend(now)
        sent.append(now)
    assert busiest_minute(sent) <= per_minute


@pytest.mark.parametrize("per_minute", [1, 50, 60])
def test_a_greedy_caller_gets_the_whole_budget_and_no_more(per_minute):
    budget, now, sent = RequestBudget(per_minute), float(T0), []
    for _ in range(3 * per_minute):
        now = budget.next_allowed(now)
        budget.spend(now)
        sent.append(now)
    assert busiest_minute(sent) == per_minute


def test_the_last_minutes_count_is_read_without_changing_the_budget():
    budget = RequestBudget(3)
    for sent_at in (0.0, 20.0, 40.0):
        budget.spend(sent_at)
    assert budget.sent_in_last_minute(50.0) == 3
    assert budget.sent_in_last_minute(70.0) == 2
    # Reading never drops a request the budget still counts.
    assert budget.next_allowed(50.0) > 60.0
    assert budget.sent_in_last_minute(50.0) == 3


def test_budget_spreads_requests_evenly():
    budget = RequestBudget(50)
    budget.spend(T0)
    assert budget.next_allowed(T0) == pytest.approx(T0 + 1.2)


class ScriptedClient:
    """Answers from a list of results (dict rows or BitsoError), recording request times."""

    def __init__(self, clock, results):
        self.clock, self.results, self.calls = clock, results, []

    def tickers(self):
        self.calls.append(self.clock.time())
        result = self.results[min(len(self.calls), len(self.results)) - 1]
        if isinstance(result, BitsoError):
            raise result
        return result


GOOD = [
    {"book": "btc_mxn", "bid": "1496250", "ask": "1500000"},
    {"book": "usd_mxn", "bid": "17.9910", "ask": "18.0000"},
    {"book": "eth_mxn", "bid": "1", "ask": "2"},
]


def run_source(clock, client, seconds, budget=50):
    board = QuoteBoard(["btc_mxn", "usd_mxn"])
    source = RestSource(client, board, RequestBudget(budget), clock)
    stop = threading.Event()
    clock.on_advance = lambda now: stop.set() if now >= T0 + seconds else None
    source.run(stop)
    return board, source


def error(kind, status=None, retry_after=None):
    return BitsoError(kind, f"HTTP {status} {kind}", "http://x/v3/ticker/", status, retry_after)


def test_rest_source_never_exceeds_the_budget_even_while_failing(clock):
    rng = random.Random(3)
    results = [GOOD if rng.random() < 0.6 else error("server_error", 503) for _ in range(2000)]
    client = ScriptedClient(clock, results)
    run_source(clock, client, seconds=600, budget=50)
    assert busiest_minute(client.calls) <= 50
    assert len(client.calls) > 200


def test_rest_source_publishes_only_its_books_from_one_ticker_request(clock):
    client = ScriptedClient(clock, [GOOD])
    board, source = run_source(clock, client, seconds=1)
    statuses = board.snapshot()
    assert set(statuses) == {"btc_mxn", "usd_mxn"}
    assert str(statuses["btc_mxn"].quote.bid) == "1496250" and statuses["btc_mxn"].problem is None
    assert source.requests_sent == 1


def test_rest_source_backs_off_exponentially_and_resets_on_success(clock):
    failing = [error("timeout")] * 4 + [GOOD] * 3
    client = ScriptedClient(clock, failing)
    run_source(clock, client, seconds=20)
    gaps = [round(b - a, 1) for a, b in zip(client.calls, client.calls[1:], strict=False)]
    assert gaps[:6] == [1.2, 2.0, 4.0, 8.0, 1.2, 1.2]


def test_rest_source_pauses_a_minute_on_420_and_honours_retry_after(clock):
    client = ScriptedClient(clock, [error("rate_limited", 420), GOOD])
    run_source(clock, client, seconds=70)
    assert client.calls[1] - client.calls[0] == pytest.approx(RATE_LIMIT_PAUSE_SECONDS)
    client = ScriptedClient(clock, [error("rate_limited", 429, retry_after=7.0), GOOD])
    clock.now = T0
    run_source(clock, client, seconds=10)
    assert client.calls[1] - client.calls[0] == pytest.approx(7.0)


def test_failures_become_gaps_and_are_logged_once_per_episode(clock, caplog):
    caplog.set_level(logging.INFO)
    board, _ = run_source(clock, ScriptedClient(clock, [GOOD, error("server_error", 503)]), 3)
    assert board.snapshot()["btc_mxn"].problem == "ticker request failed: HTTP 503 server_error"
    caplog.clear()
    clock.now = T0
    results = [GOOD] + [error("server_error", 503)] * 5 + [GOOD]
    run_source(clock, ScriptedClient(clock, results), seconds=120)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "HTTP 503" in warnings[0] and "http://x/v3/ticker/" in warnings[0]
    assert any("answers again after 5 failed requests" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ({"book": "btc_mxn", "bid": None, "ask": None}, "empty book (no bid and no ask)"),
        ({"book": "btc_mxn", "bid": "1500010", "ask": "1500000"}, "crossed book"),
        ({"book": "btc_mxn", "bid": "abc", "ask": "1500000"}, "empty book (no bid)"),
        (None, "book missing from the ticker reply"),
    ],
)
def test_empty_crossed_or_missing_books_are_problems_for_that_book_only(clock, row, problem):
    rows = [GOOD[1]] + ([row] if row else [])
    board, _ = run_source(clock, ScriptedClient(clock, [rows]), seconds=1)
    assert board.snapshot()["btc_mxn"].problem.startswith(problem)
    assert board.snapshot()["usd_mxn"].problem is None
