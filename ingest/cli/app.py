"""The `ingest` group: logging, settings from the environment, and the commands of each half.

Command modules import their services only when a command runs, so `ingest --help` and every
command pay only for what they use.
"""

from __future__ import annotations

import logging
import os

import click

from ingest.cli import alerts, batch, spreads, tooling
from ingest.settings import Settings, SettingsError

# Libraries that log routine detail at INFO on every call (the S3 client names where it found
# credentials on every connection).
_CHATTY_LOGGERS = ("botocore", "aiobotocore", "s3fs")


class _StderrHandler(logging.Handler):
    """Logs to whatever stderr is when the record is emitted (click swaps it in tests)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record), err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail to stderr.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Load Bitso snapshots into the warehouse and monitor order-book spreads.

    Settings come from the environment (BITSO_TARGET, BITSO_LAKE, the PG* variables, ...; see
    the README) and the flags of each command.
    """
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True
    )
    for chatty in _CHATTY_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.DEBUG if verbose else logging.WARNING)
    try:
        ctx.obj = Settings.from_env(os.environ)
    except SettingsError as error:
        raise click.UsageError(str(error)) from error


for command in (*batch.COMMANDS, *spreads.COMMANDS, *alerts.COMMANDS, *tooling.COMMANDS):
    cli.add_command(command)
