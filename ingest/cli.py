"""The `ingest` command line: parses options, calls the services, maps failures to exit codes."""

from __future__ import annotations

import logging
import os

import click

from ingest.settings import Settings, SettingsError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail to stderr.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Load Bitso snapshots into the warehouse and monitor order-book spreads.

    The engine is chosen by BITSO_TARGET (duckdb or postgres); PostgreSQL is reached through
    the standard PG* variables.
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        ctx.obj = Settings.from_env(os.environ)
    except SettingsError as error:
        raise click.UsageError(str(error)) from error


# Commands of the spread monitor are registered below this line.
