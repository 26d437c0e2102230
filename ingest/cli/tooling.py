"""Commands of the tooling beside the product: the local Bitso and the sample generator. Their
modules (package `bitso_sandbox`) are imported only when one of these commands runs."""

from __future__ import annotations

import threading
from pathlib import Path

import click

from ingest.cli.options import RunFailed
from ingest.cli.spreads import stop_on_signals


@click.command("generate-sample")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--deposits",
    type=int,
    default=20_000,
    show_default=True,
    help="Deposit rows; the other files scale from the original ratios (1618271 is the "
    "original volume).",
)
@click.option("--seed", type=int, default=42, show_default=True, help="Same seed, same files.")
@click.option(
    "--users-from",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Draw the users from an existing users file instead of inventing them.",
)
@click.option(
    "--orphan-users",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Users who transact but are missing from the users file.",
)
def generate_sample_command(
    directory: Path, deposits: int, seed: int, users_from: Path | None, orphan_users: int
) -> None:
    """Write the four snapshot files, with the original formats and quirks, into DIRECTORY."""
    from bitso_sandbox import sample

    if deposits < sample.MIN_DEPOSITS:
        raise click.BadParameter(f"must be at least {sample.MIN_DEPOSITS}", param_hint="--deposits")
    user_ids = sample.read_user_ids(users_from) if users_from else None
    written = sample.generate_sample(
        directory, deposits=deposits, seed=seed, user_ids=user_ids, orphan_users=orphan_users
    )
    for name, rows in written.items():
        click.echo(f"{rows:>10,} rows  {directory / name}")


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
    from bitso_sandbox.local_bitso.catalog import default_listings
    from bitso_sandbox.local_bitso.exchange import Script, ScriptError, SimulatedExchange
    from bitso_sandbox.local_bitso.http_api import LocalBitso

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
        raise RunFailed(f"cannot listen on {host}:{port} and {host}:{ws_port}: {error}") from error
    click.echo(
        f"Local Bitso API on {server.url} with {len(exchange.books())} books; "
        f"WebSocket API on {server.ws_url}"
    )
    stop = threading.Event()
    with stop_on_signals(stop):
        stop.wait(duration)
    server.stop()


COMMANDS = (serve_bitso, generate_sample_command)
