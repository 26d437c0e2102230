"""What every command shares: the options several commands take, declared once, and the one way
a failed run ends (exit 1, `error: <what failed>` on stderr). Bad usage is click's (exit 2)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click

from ingest.contracts import LAKE_FILE_FORMATS
from ingest.settings import TARGETS

# Flags override the settings read from the environment (ingest.settings), so no option reads a
# variable itself; the help names the variable.
target_option = click.option(
    "--target",
    type=click.Choice(TARGETS),
    help="Warehouse engine, for this command and the dbt it runs.  "
    "[env: BITSO_TARGET; default: duckdb]",
)
lake_option = click.option(
    "--lake",
    help="Data lake root, a folder or an s3:// URL.  [env: BITSO_LAKE; default: bucket]",
)

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout."
)
no_wait_option = click.option(
    "--no-wait",
    is_flag=True,
    help="Refuse to run while another run of this command holds the warehouse, "
    "instead of waiting for it.",
)


def format_option(help_text: str):
    return click.option(
        "--format",
        "file_format",
        type=click.Choice(LAKE_FILE_FORMATS),
        default="csv",
        show_default=True,
        help=help_text,
    )


def thresholds_callback(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> tuple[Decimal, ...] | None:
    """Repeated `--threshold` values as percentages greater than 0; None when none was given."""
    thresholds = []
    for value in values:
        try:
            threshold = Decimal(value)
        except InvalidOperation:
            threshold = Decimal("NaN")
        if not threshold.is_finite() or threshold <= 0:
            raise click.BadParameter(f"{value!r} is not a percentage greater than 0")
        thresholds.append(threshold)
    return tuple(thresholds) or None


def project_dir_option(what: str):
    """`--project-dir`, the dbt project; `what` says what the command takes from it."""
    return click.option(
        "--project-dir",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        help=f"{what}  [env: DBT_PROJECT_DIR; default: the current folder]",
    )


class RunFailed(click.ClickException):
    """A run that could not do its work: exit 1, one line on stderr."""

    exit_code = 1

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


@contextlib.contextmanager
def failures_exit(
    *errors: type[BaseException], context: str = "", then: str = ""
) -> Iterator[None]:
    """Turn the service's own failures into a failed run: `error: <context><failure><then>`."""
    try:
        yield
    except errors as error:
        raise RunFailed(f"{context}{error}{then}") from error
