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
from urllib.parse import urlsplit

import click

from bitso_sandbox.local_bitso.catalog import default_listings
from bitso_sandbox.local_bitso.exchange import Script, ScriptError, SimulatedExchange
from bitso_sandbox.local_bitso.http_api import LocalBitso
from ingest.settings import Settings
from ingest.spreads.monitor.alerts import DEFAULT_THRESHOLDS
from ingest.spreads.monitor.bitso_rest import BitsoError, BitsoRestClient
from ingest.spreads.monitor.budget import RequestBudget
from ingest.spreads.monitor.clock import SystemClock
from ingest.spreads.monitor.lake import FORMATS, SECONDS_PER_DAY, LakeBusy
from ingest.spreads.monitor.quotes import QuoteBoard
from ingest.spreads.monitor.rest_source import RestSource
from ingest.spreads.monitor.runner import ALERT_TIMINGS, MonitorOptions, run_monitor
from ingest.spreads.monitor.webhooks import WebhookNotifier, check_webhook_url
from ingest.spreads.monitor.ws_source import DEPTHS, WsSource

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


def _ws_url(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and (
        urlsplit(value).scheme not in ("ws", "wss") or not urlsplit(value).hostname
    ):
        raise click.BadParameter(f"{value!r} is not a ws:// or wss:// URL")
    return value


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
    type=click.Choice(["ws", "rest"]),
    default="ws",
    show_default=True,
    help="Where quotes come from: ws streams Bitso's WebSocket API; rest polls GET /v3/ticker/ "
    "within the request budget.",
)
@click.option(
    "--ws-url",
    envvar="BITSO_WS_URL",
    show_envvar=True,
    callback=_ws_url,
    help="URL of Bitso's WebSocket API.  [default: wss://ws.bitso.com]",
)
@click.option(
    "--depth",
    type=click.Choice(DEPTHS),
    default="top",
    show_default=True,
    help="With ws: top reads the orders channel (top 20 per side); book keeps full books from "
    "diff-orders and REST snapshots joined by sequence.",
)
@click.option(
    "--ws-timeout",
    type=click.FloatRange(0, min_open=True),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="With ws: a connection without any frame this long is dead and replaced (Bitso sends a "
    "keep-alive every 20 s).",
)
@click.option(
    "--rest-fallback",
    is_flag=True,
    help="With ws: while the WebSocket is down, poll REST within the request budget instead of "
    "recording gaps.",
)
@click.option(
    "--alert-timing",
    type=click.Choice(ALERT_TIMINGS),
    default="second",
    show_default=True,
    help="second: alerts come from the one-second lake records (the alert log matches the lake); "
    "message: from every quote as it arrives.",
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
    help="Root of the data lake, a folder or an s3:// URL; files go under spreads/ and alerts/."
    "  [default: bucket]",
)
@click.option(
    "--journal-dir",
    envvar="BITSO_JOURNAL_DIR",
    show_envvar=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Local folder journaling the open window (and, for an s3:// lake, the alert log).  "
    "[default: <lake>/spreads/_partial, or monitor_journal/<bucket>/<prefix> for s3://]",
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
    ws_url: str | None,
    depth: str,
    ws_timeout: float,
    rest_fallback: bool,
    alert_timing: str,
    books: tuple[str, ...],
    api_url: str | None,
    lake: str | None,
    journal_dir: Path | None,
    window_seconds: int,
    fmt: str,
    thresholds: tuple[Decimal, ...],
    webhooks: tuple[str, ...],
    request_budget: int,
    duration: int | None,
) -> None:
    """Record every book's bid-ask spread once a second into the lake and alert on thresholds."""
    if source == "rest":
        for flag, given in (("--depth", depth != "top"), ("--rest-fallback", rest_fallback)):
            if given:
                raise click.UsageError(f"{flag} needs --source ws")
    settings = settings.replace(
        api_url=api_url, ws_url=ws_url, lake=lake, webhooks=webhooks or None
    )
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
        lake=settings.lake,
        journal_dir=journal_dir,
        window_seconds=window_seconds,
        fmt=fmt,
        thresholds=thresholds,
        duration=duration,
        stale_after=max(5.0, 3 * budget.spacing),
        alert_timing=alert_timing,
    )
    log.info(
        "monitoring %s by %s from %s every second; thresholds %s %%; %d-second %s windows in %s",
        ",".join(books),
        source,
        settings.ws_url if source == "ws" else settings.api_url,
        ", ".join(str(threshold) for threshold in thresholds),
        window_seconds,
        fmt,
        settings.lake,
    )
    stop = threading.Event()
    notifier = WebhookNotifier(settings.webhooks)
    if source == "ws":
        feed: RestSource | WsSource = WsSource(
            settings.ws_url,
            board,
            client,
            budget,
            clock,
            depth=depth,
            silence_timeout=ws_timeout,
            rest_fallback=rest_fallback,
        )
    else:
        feed = RestSource(client, board, budget, clock)
    try:
        with stop_on_signals(stop):
            summary = run_monitor(options, board, feed, clock, stop, notifier)
    except LakeBusy as error:
        raise click.ClickException(str(error)) from error
    except OSError as error:
        # Seconds already journaled stay in the journal and are published on the next start.
        raise click.ClickException(f"cannot write to the lake {settings.lake}: {error}") from error
    finally:
        client.close()
    if isinstance(feed, WsSource):
        requests_sent = feed.rest_requests
        stream = (
            f"{feed.connections} WebSocket connections ({feed.disconnected_seconds():.1f} s "
            f"disconnected, {feed.frames} frames, {feed.skipped_frames} skipped), "
        )
    else:
        requests_sent, stream = feed.requests_sent, ""
    latency = ""
    if summary.alert_latencies:
        latency = f", worst alert latency {max(summary.alert_latencies) * 1000:.0f} ms"
    click.echo(
        f"{summary.records} records ({summary.gaps} gaps) over {summary.seconds} seconds, "
        f"{len(summary.files)} files published under {settings.lake.rstrip('/')}/spreads, "
        f"{summary.alerts} alerts, {requests_sent + 1} API requests, {stream}"
        f"worst sampling lateness {summary.worst_lateness * 1000:.0f} ms{latency}"
    )


@click.command("serve-bitso")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="0 picks one."
)
@click.option(
    "--ws-port",
    type=click.IntRange(0, 65535),
    help="Port of the WebSocket API; 0 picks one.  [default: --port + 1, or any free port when "
    "--port is 0]",
)
@click.option(
    "--ka-interval",
    type=click.FloatRange(0, min_open=True),
    default=20.0,
    show_default=True,
    metavar="SECONDS",
    help='Seconds between WebSocket keep-alives ({"type":"ka"}).',
)
@click.option(
    "--activity",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    metavar="PER_SECOND",
    help="Changes per second per book to the orders near the top, each one orders and one "
    "diff-orders message (0: books change only at script steps).",
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
    ws_port: int | None,
    ka_interval: float,
    activity: float,
    script: Path | None,
    rate_limit: int,
    rate_limit_status: str,
    duration: float | None,
) -> None:
    """Serve a local, simulated Bitso public REST and WebSocket API (for tests and the offline
    demo)."""
    try:
        exchange = SimulatedExchange(
            default_listings(), Script.load(script) if script else None, activity=activity
        )
    except ScriptError as error:
        raise click.BadParameter(str(error), param_hint="--script") from error
    if ws_port is None:
        ws_port = port + 1 if port else 0
    server = LocalBitso(
        exchange,
        host,
        port,
        rate_limit,
        int(rate_limit_status),
        ws_port=ws_port,
        ka_interval=ka_interval,
    )
    try:
        server.start()
    except OSError as error:
        raise click.ClickException(
            f"cannot listen on {host}:{port} and {host}:{ws_port}: {error}"
        ) from error
    click.echo(
        f"Local Bitso API on {server.url} with {len(exchange.books())} books; "
        f"WebSocket API on {server.ws_url}"
    )
    stop = threading.Event()
    with stop_on_signals(stop):
        stop.wait(duration)
    server.stop()
