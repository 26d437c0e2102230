"""The spread half's commands: `spreads` (the live monitor), `lake-load` and `report`."""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit

import click

from ingest.cli.options import (
    RunFailed,
    failures_exit,
    format_option,
    lake_option,
    project_dir_option,
    target_option,
    thresholds_callback,
)
from ingest.settings import Settings, SettingsError
from ingest.spreads.monitor.plan import ALERT_TIMINGS, DEPTHS, SOURCES, MonitorPlan, window_problem

log = logging.getLogger(__name__)

BOOK_NAME = re.compile(r"^[a-z0-9]+_[a-z0-9]+$")
# The report's default period, in hours.
DEFAULT_REPORT_HOURS = 24


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
    if (problem := window_problem(int(seconds))) is not None:
        raise click.BadParameter(problem)
    return int(seconds)


def _check_urls(settings: Settings) -> None:
    """The URLs may come from the environment: check them as if they were flags."""
    from ingest.spreads.monitor.webhooks import check_webhook_url

    ws = urlsplit(settings.ws_url)
    if ws.scheme not in ("ws", "wss") or not ws.hostname:
        raise click.BadParameter(
            f"{settings.ws_url!r} is not a ws:// or wss:// URL", param_hint="--ws-url"
        )
    for url in settings.webhooks:
        if (reason := check_webhook_url(url)) is not None:
            raise click.BadParameter(reason, param_hint="--webhook")


def _utc_timestamp(_ctx, _param, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise click.BadParameter(f"not an ISO-8601 timestamp: {value!r}") from error
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@click.command("spreads")
@click.option(
    "--source",
    type=click.Choice(SOURCES),
    default="ws",
    show_default=True,
    help="Where quotes come from: ws streams Bitso's WebSocket API; rest polls GET /v3/ticker/ "
    "within the request budget.",
)
@click.option(
    "--ws-url",
    help="URL of Bitso's WebSocket API.  [env: BITSO_WS_URL; default: wss://ws.bitso.com]",
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
    "--book-timeout",
    type=click.FloatRange(0),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="With ws: a book without a frame this long while the connection lives is checked "
    "against one ticker request; if the ticker moved, the connection is replaced. 0: never.",
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
    help="Base URL of Bitso's REST API.  [env: BITSO_API_URL; default: https://api.bitso.com]",
)
@lake_option
@click.option(
    "--journal-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Local folder journaling the open window (and, for an s3:// lake, the alert log).  "
    "[env: BITSO_JOURNAL_DIR; default: <lake>/spreads/_partial, or "
    "monitor_journal/<bucket>/<prefix> for s3://]",
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
@format_option("Lake file format.")
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    callback=thresholds_callback,
    metavar="PCT",
    help="Alert when a spread is strictly above PCT percent; repeatable.  [default: the dbt "
    "project's seeds/spread_thresholds.csv, else 1.0, 0.5, 0.1]",
)
@click.option(
    "--webhook",
    "webhooks",
    multiple=True,
    metavar="URL",
    help="POST each alert as JSON to URL (Slack-style `text` included); repeatable.  "
    "[env: BITSO_WEBHOOKS, whitespace-separated] URLs are secrets and never logged.",
)
@click.option(
    "--alert-rules",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="YAML alert rules: per threshold the books, for, clear_for, clear_below, repeat_every, "
    "severity, inhibit_lower and receivers (docs/alerting.md); replaces --threshold and "
    "--webhook.  [env: BITSO_ALERT_RULES; default: --threshold/--webhook, else the "
    "thresholds seed]",
)
@click.option(
    "--alertmanager",
    "alertmanagers",
    multiple=True,
    metavar="URL",
    help="Also post alerts to this Alertmanager's /api/v2/alerts (and refresh the open ones); "
    "repeatable.  [env: BITSO_ALERTMANAGERS, whitespace-separated; default: none]",
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
@click.option(
    "--metrics-port",
    metavar="PORT",
    help="Serve /metrics (Prometheus) and /healthz on this port.  "
    "[env: BITSO_METRICS_PORT; default: not served]",
)
@click.option(
    "--metrics-host",
    metavar="HOST",
    help="Address /metrics and /healthz bind to.  [env: BITSO_METRICS_HOST; default: 127.0.0.1]",
)
@click.option(
    "--stale-after",
    type=click.IntRange(1),
    metavar="SECONDS",
    help="A book without a usable quote this long gets a `stale` alert (and `fresh` when quotes "
    "return); /healthz judges freshness by it too.  [env: BITSO_STALE_AFTER; default: 30]",
)
@click.option(
    "--max-restarts",
    type=click.IntRange(0),
    default=5,
    show_default=True,
    metavar="N",
    help="A part of the monitor (source, sampler, lake writer, alerts file, webhooks) that fails "
    "more than N times within --restart-window stops the run with status 1, every sink closed.",
)
@click.option(
    "--restart-window",
    type=click.FloatRange(0, min_open=True),
    default=300.0,
    show_default=True,
    metavar="SECONDS",
    help="The period over which --max-restarts counts a part's failures.",
)
@project_dir_option("The dbt project whose thresholds seed gives the default thresholds.")
@click.pass_obj
def spreads_command(
    settings: Settings,
    source: str,
    ws_url: str | None,
    depth: str,
    ws_timeout: float,
    book_timeout: float,
    rest_fallback: bool,
    alert_timing: str,
    books: tuple[str, ...],
    api_url: str | None,
    lake: str | None,
    journal_dir: Path | None,
    window_seconds: int,
    file_format: str,
    thresholds: tuple[Decimal, ...] | None,
    webhooks: tuple[str, ...],
    alert_rules: Path | None,
    alertmanagers: tuple[str, ...],
    request_budget: int,
    duration: int | None,
    metrics_port: str | None,
    metrics_host: str | None,
    stale_after: int | None,
    max_restarts: int,
    restart_window: float,
    project_dir: Path | None,
) -> None:
    """Record every book's bid-ask spread once a second into the lake and alert on thresholds."""
    if source == "rest":
        for flag, given in (("--depth", depth != "top"), ("--rest-fallback", rest_fallback)):
            if given:
                raise click.UsageError(f"{flag} needs --source ws")
    try:
        settings = settings.replace(
            api_url=api_url,
            ws_url=ws_url,
            lake=lake,
            journal_dir=journal_dir,
            webhooks=webhooks or None,
            alert_rules=alert_rules,
            alertmanagers=alertmanagers or None,
            project_dir=project_dir,
            metrics_port=metrics_port,
            metrics_host=metrics_host,
            stale_after=stale_after,
        )
    except SettingsError as error:
        raise click.BadParameter(str(error), param_hint="--metrics-port") from error
    _check_urls(settings)
    plan = MonitorPlan(
        books=books,
        source=source,
        depth=depth,
        ws_timeout=ws_timeout,
        book_timeout=book_timeout,
        rest_fallback=rest_fallback,
        alert_timing=alert_timing,
        window_seconds=window_seconds,
        fmt=file_format,
        thresholds=thresholds,
        request_budget=request_budget,
        duration=duration,
        max_restarts=max_restarts,
        restart_window=restart_window,
    )

    from ingest.spreads.monitor.alert_rules import AlertRulesError, ThresholdsError, rules_for_run
    from ingest.spreads.monitor.alertmanager import alerts_endpoint
    from ingest.spreads.monitor.lake import LakeBusy
    from ingest.spreads.monitor.supervisor import MonitorFailed
    from ingest.spreads.monitor.wiring import MonitorSetupError, UnknownBooks, build_monitor

    for url in settings.alertmanagers:
        try:
            alerts_endpoint(url)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--alertmanager") from error
    try:
        rules = rules_for_run(
            settings.alert_rules,
            thresholds,
            settings.webhooks,
            settings.project_dir,
            settings.environment,
        )
        rules.check_books(books)
    except AlertRulesError as error:
        raise click.BadParameter(str(error), param_hint="--alert-rules") from error
    except ThresholdsError as error:
        raise RunFailed(str(error)) from error
    try:
        monitor = build_monitor(settings, plan, rules=rules)
    except UnknownBooks as error:
        raise click.BadParameter(str(error), param_hint="--books") from error
    except MonitorSetupError as error:
        raise RunFailed(str(error)) from error
    stop = threading.Event()
    with failures_exit(LakeBusy), stop_on_signals(stop):
        try:
            summary = monitor.run(stop)
        except OSError as error:
            # Seconds already journaled stay in the journal and are published on the next start.
            raise RunFailed(f"cannot write to the lake {settings.lake}: {error}") from error
        except MonitorFailed as error:
            raise RunFailed(str(error)) from error
    click.echo(monitor.summary_line(summary))


@click.command("lake-load")
@lake_option
@target_option
@click.pass_obj
def lake_load_command(settings: Settings, lake: str | None, target: str | None) -> None:
    """Copy the spread monitor's new or changed lake files into PostgreSQL's raw schema.

    Each closed window file and alert log is loaded once; a file that changed replaces its rows,
    and a half-written or unreadable one is skipped and tried again on the next run. Run it
    from cron before `dbt build`. On DuckDB there is nothing to do: dbt reads the lake in place.
    """
    settings = settings.replace(lake=lake, target=target)
    if settings.target == "duckdb":
        click.echo("nothing to load: dbt on DuckDB reads the lake files in place")
        return
    from ingest.io.warehouse import WarehouseError, describe
    from ingest.spreads import lake_load

    with failures_exit(WarehouseError):
        try:
            outcomes = lake_load.load_lake(settings, settings.lake)
        except OSError as error:
            raise RunFailed(f"cannot list the lake {settings.lake}: {error}") from error
    counts = Counter(outcome.status for outcome in outcomes)
    rows = sum(outcome.rows for outcome in outcomes)
    click.echo(
        f"{counts[lake_load.LOADED]} files loaded, {counts[lake_load.RELOADED]} reloaded "
        f"({rows:,} rows), {counts[lake_load.UNCHANGED]} unchanged, "
        f"{counts[lake_load.SKIPPED]} skipped, into {describe(settings)}"
    )


@click.command("report")
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("spread_report"),
    show_default=True,
    help="Directory for index.html (every book's chart) and spread_<book>.png (for e-mail).",
)
@click.option("--book", "books", multiple=True, help="Book to draw; repeatable.  [default: all]")
@click.option(
    "--end",
    callback=_utc_timestamp,
    metavar="TIMESTAMP",
    help="End of the period, ISO-8601 (UTC unless an offset is given).  [default: newest data]",
)
@click.option(
    "--hours",
    type=click.IntRange(min=1),
    default=DEFAULT_REPORT_HOURS,
    show_default=True,
    help="Length of the period.",
)
@target_option
@click.pass_obj
def report_command(
    settings: Settings,
    output: Path,
    books: tuple[str, ...],
    end: datetime | None,
    hours: int,
    target: str | None,
) -> None:
    """Draw each book's spread over a period, with thresholds, alert episodes and gaps.

    Writes one self-contained interactive page (an overview table and a chart per book) and a
    PNG per book, from the spread models of the warehouse (run `dbt build` first).
    """
    from ingest.io.warehouse import WarehouseError
    from ingest.spreads import report

    settings = settings.replace(target=target)
    with failures_exit(report.ReportError, WarehouseError):
        result = report.build_reports(settings, output, books=books, end=end, hours=hours)
    for book_report in result.books:
        click.echo(
            f"{book_report.book}: {book_report.summary.recorded_seconds:,} seconds, "
            f"{len(book_report.episodes)} episodes, {len(book_report.gaps)} gaps  "
            f"{book_report.png_path}"
        )
    click.echo(f"report: {result.page_path}")


COMMANDS = (spreads_command, lake_load_command, report_command)
