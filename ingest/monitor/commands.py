"""The click commands of the spread monitor: `ingest spreads` and `ingest serve-bitso`."""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import threading
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click

from ingest.monitor.alerts import DEFAULT_THRESHOLDS
from ingest.monitor.bitso_rest import BitsoError, BitsoRestClient
from ingest.monitor.budget import RequestBudget
from ingest.monitor.clock import SystemClock
from ingest.monitor.lake import FORMATS, SECONDS_PER_DAY, LakeBusy
from ingest.monitor.local_bitso.catalog import default_listings
from ingest.monitor.local_bitso.exchange import Script, ScriptError, SimulatedExchange
from ingest.monitor.local_bitso.http_api import LocalBitso
from ingest.monitor.quotes import QuoteBoard
from ingest.monitor.rest_source import RestSource
from ingest.monitor.runner import MonitorOptions, run_monitor
from ingest.monitor.webhooks import WebhookNotifier, check_webhook_url
from ingest.settings import Settings

log = logging.getLogger(__name__)

BOOK_NAME = re.compile(r"^[a-z0-9]+_[a-z0-9]+$")


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set `stop` (the run then closes its window) instead of killing."""

    def handle(signum: int, _frame: object) -> None:
        log.info("%s received: closing the current window", signal.Signals(signum).name)
        stop.set()

    previous = {signum: signal.signal(signum, handle) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _books(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[str, ...]:
    books = tuple(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))
    if not books:
        raise click.BadParameter("give at least one book, e.g. btc_mxn")
    for book in books:
        if not BOOK_NAME.match(book):
            raise click.BadParameter(f"{book!r} is not a book name like btc_mxn (lower case)")
    return books


def _window(_ctx: click.Context, _param: click.Parameter, value: str) -> int:
    try:
        seconds = Decimal(value)
    except InvalidOperation:
        seconds = Decimal("NaN")
    if not seconds.is_finite() or seconds != seconds.to_integral_value() or seconds <= 0:
        raise click.BadParameter(f"{value!r} is not a whole, positive number of seconds")
    if SECONDS_PER_DAY % int(seconds):
        raise click.BadParameter(
            f"{value} s does not divide a day into whole windows (e.g. 60, 300, 600, 3600)"
        )
    return int(seconds)


def _thresholds(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> tuple[Decimal, ...]:
    thresholds = []
    for value in values:
        try:
            threshold = Decimal(value)
        except InvalidOperation:
            threshold = Decimal("NaN")
        if not threshold.is_finite() or threshold <= 0:
            raise click.BadParameter(f"{value!r} is not a percentage greater than 0")
        thresholds.append(threshold)
    return tuple(thresholds) or DEFAULT_THRESHOLDS


def _webhooks(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    for url in values:
        if (reason := check_webhook_url(url)) is not None:
            raise click.BadParameter(reason)
    return values


@click.command()
@click.option(
    "--source",
    type=click.Choice(["rest"]),
    default="rest",
    show_default=True,
    help="Where quotes come from: rest polls GET /v3/ticker/ within the request budget.",
)
@click.option(
    "--books",
    default="btc_mxn,usd_mxn",
    show_default=True,
    callback=_books,
    help="Comma-separated books to monitor; each must be in /v3/available_books.",
)
@click.option(
    "--api-url",
    envvar="BITSO_API_URL",
    show_envvar=True,
    help="Base URL of Bitso's REST API.  [default: https://api.bitso.com]",
)
@click.option(
    "--lake",
    envvar="BITSO_LAKE",
    show_envvar=True,
    help="Root of the data lake; files go under spreads/ and alerts/.  [default: bucket]",
)
@click.option(
    "--window",
    "window_seconds",
    default="600",
    show_default=True,
    callback=_window,
    metavar="SECONDS",
    help="Seconds per lake file; must divide a day evenly.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="csv",
    show_default=True,
    help="Lake file format.",
)
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    callback=_thresholds,
    metavar="PCT",
    help="Alert when a spread is strictly above PCT percent; repeatable.  [default: 1.0, 0.5, 0.1]",
)
@click.option(
    "--webhook",
    "webhooks",
    multiple=True,
    envvar="BITSO_WEBHOOKS",
    show_envvar=True,
    callback=_webhooks,
    metavar="URL",
    help="POST each alert as JSON to URL (Slack-style `text` included); repeatable, the "
    "variable holds whitespace-separated URLs. URLs are secrets and never logged.",
)
@click.option(
    "--request-budget",
    type=click.IntRange(1, 60),
    default=50,
    show_default=True,
    help="Most REST requests per minute (Bitso locks an IP out above 60).",
)
@click.option(
    "--duration",
    type=click.IntRange(1),
    metavar="SECONDS",
    help="Record this many seconds, then stop cleanly.  [default: run until SIGINT or SIGTERM]",
)
@click.pass_obj
def spreads(
    settings: Settings,
    source: str,
    books: tuple[str, ...],
    api_url: str | None,
    lake: str | None,
    window_seconds: int,
    fmt: str,
    thresholds: tuple[Decimal, ...],
    webhooks: tuple[str, ...],
    request_budget: int,
    duration: int | None,
) -> None:
    """Record every book's bid-ask spread once a second into the lake and alert on thresholds."""
    settings = settings.replace(api_url=api_url, lake=lake, webhooks=webhooks or None)
    clock = SystemClock()
    budget = RequestBudget(request_budget)
    client = BitsoRestClient(settings.api_url)
    budget.spend(clock.time())
    try:
        listed = set(client.available_books())
    except BitsoError as error:
        raise click.ClickException(f"cannot check the books at GET {error.url}: {error}") from error
    unknown = [book for book in books if book not in listed]
    if unknown:
        raise click.BadParameter(
            f"{', '.join(unknown)} not in {settings.api_url}/v3/available_books/",
            param_hint="--books",
        )
    board = QuoteBoard(books)
    options = MonitorOptions(
        books=books,
        lake=Path(settings.lake),
        window_seconds=window_seconds,
        fmt=fmt,
        thresholds=thresholds,
        duration=duration,
        stale_after=max(5.0, 3 * budget.spacing),
    )
    log.info(
        "monitoring %s by %s from %s every second; thresholds %s %%; %d-second %s windows in %s",
        ",".join(books),
        source,
        settings.api_url,
        ", ".join(str(threshold) for threshold in thresholds),
        window_seconds,
        fmt,
        settings.lake,
    )
    stop = threading.Event()
    notifier = WebhookNotifier(settings.webhooks)
    rest = RestSource(client, board, budget, clock)
    try:
        with stop_on_signals(stop):
            summary = run_monitor(options, board, rest, clock, stop, notifier)
    except LakeBusy as error:
        raise click.ClickException(str(error)) from error
    except OSError as error:
        # Seconds already journaled stay in spreads/_partial/ and are published on the next start.
        raise click.ClickException(f"cannot write to the lake {settings.lake}: {error}") from error
    finally:
        client.close()
    click.echo(
        f"{summary.records} records ({summary.gaps} gaps) over {summary.seconds} seconds, "
        f"{len(summary.files)} files published under {Path(settings.lake) / 'spreads'}, "
        f"{summary.alerts} alerts, {rest.requests_sent + 1} API requests, "
        f"worst sampling lateness {summary.worst_lateness * 1000:.0f} ms"
    )


@click.command("serve-bitso")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="0 picks one."
)
@click.option(
    "--script",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON file scripting spreads and faults over time (see docs/spread_monitor.md).",
)
@click.option(
    "--rate-limit",
    type=click.IntRange(1),
    default=60,
    show_default=True,
    help="API requests allowed per client IP per minute before a one-minute lockout.",
)
@click.option(
    "--rate-limit-status",
    type=click.Choice(["420", "429"]),
    default="420",
    show_default=True,
    help="HTTP status of a rate-limited reply (Bitso documents 420).",
)
@click.option(
    "--duration",
    type=click.FloatRange(0, min_open=True),
    metavar="SECONDS",
    help="Stop after this long.  [default: run until SIGINT or SIGTERM]",
)
def serve_bitso(
    host: str,
    port: int,
    script: Path | None,
    rate_limit: int,
    rate_limit_status: str,
    duration: float | None,
) -> None:
    """Serve a local, simulated Bitso public REST API (for tests and the offline demo)."""
    try:
        exchange = SimulatedExchange(default_listings(), Script.load(script) if script else None)
    except ScriptError as error:
        raise click.BadParameter(str(error), param_hint="--script") from error
    server = LocalBitso(exchange, host, port, rate_limit, int(rate_limit_status))
    try:
        server.start()
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error}") from error
    click.echo(f"Local Bitso API on {server.url} with {len(exchange.books())} books", nl=True)
    stop = threading.Event()
    with stop_on_signals(stop):
        stop.wait(duration)
    server.stop()
