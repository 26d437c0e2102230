"""The `ingest alerts` group: silences of a monitor's alerts, kept in its journal folder."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import click

from ingest.cli.options import (
    RunFailed,
    json_option,
    lake_option,
    project_dir_option,
    thresholds_callback,
)
from ingest.settings import Settings

journal_dir_option = click.option(
    "--journal-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The monitor's journal folder, where its silences are kept.  [env: BITSO_JOURNAL_DIR; "
    "default: <lake>/spreads/_partial, or monitor_journal/<bucket>/<prefix> for s3://]",
)


def _books(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> tuple:
    books = tuple(book.strip() for value in values for book in value.split(",") if book.strip())
    if not books:
        raise click.BadParameter("give at least one book name or glob pattern")
    return books


def _duration(_ctx: click.Context, _param: click.Parameter, value: str) -> int:
    from ingest.spreads.monitor.silences import SilencesError, parse_duration

    try:
        return parse_duration(value)
    except SilencesError as error:
        raise click.BadParameter(str(error)) from error


def _store(settings: Settings, lake: str | None, journal_dir: Path | None):
    from ingest.spreads.monitor.silences import SilenceStore, silences_path

    return SilenceStore(silences_path(settings.replace(lake=lake, journal_dir=journal_dir)))


@click.group("alerts")
def alerts_group() -> None:
    """A monitor's open alerts, and silences of its alerts.

    The commands read the monitor's journal folder: run them where the monitor runs, with its
    --lake or --journal-dir.
    """


@alerts_group.command("status")
@lake_option
@journal_dir_option
@json_option
@click.pass_obj
def status_command(
    settings: Settings, lake: str | None, journal_dir: Path | None, as_json: bool
) -> None:
    """The open episodes and stale books, as the monitor last persisted them."""
    from ingest.spreads.monitor.alert_state import AlertStateError, status
    from ingest.spreads.monitor.records import utc_iso
    from ingest.spreads.monitor.silences import journal_folder

    folder = journal_folder(settings.replace(lake=lake, journal_dir=journal_dir))
    try:
        open_alerts = status(folder)
    except AlertStateError as error:
        raise RunFailed(str(error)) from error
    if as_json:
        click.echo(json.dumps(open_alerts.as_json()))
        return
    if not open_alerts.episodes and not open_alerts.stale:
        click.echo("no open alerts")
    for episode in open_alerts.episodes:
        click.echo(
            f"{episode.book}  above {episode.threshold} %  since {episode.started}"
            f"  peak {episode.peak} %"
        )
    for stale in open_alerts.stale:
        click.echo(f"{stale.book}  no usable quote since {utc_iso(stale.since, 'seconds')}")


@alerts_group.command("silence")
@click.option(
    "--books",
    multiple=True,
    required=True,
    callback=_books,
    help="Books to silence: names or glob patterns (btc_*), comma-separated or repeated.",
)
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    callback=thresholds_callback,
    metavar="PCT",
    help="Silence only this threshold; repeatable.  [default: every threshold, and the "
    "books' stale-feed alerts]",
)
@click.option(
    "--duration",
    required=True,
    callback=_duration,
    help="How long, as 90s, 30m, 2h or 1d.",
)
@click.option("--reason", required=True, help="Why, for whoever finds the silence later.")
@lake_option
@journal_dir_option
@json_option
@click.pass_obj
def silence_command(
    settings: Settings,
    books: tuple[str, ...],
    thresholds: tuple[Decimal, ...] | None,
    duration: int,
    reason: str,
    lake: str | None,
    journal_dir: Path | None,
    as_json: bool,
) -> None:
    """Silence the alerts of some books for a while; prints the new silence's ID."""
    import time

    from ingest.spreads.monitor.silences import SilencesError, new_silence

    store = _store(settings, lake, journal_dir)
    try:
        silence = new_silence(books, duration, reason, time.time(), thresholds)
    except SilencesError as error:
        raise click.UsageError(str(error)) from error
    try:
        store.add(silence)
    except SilencesError as error:
        raise RunFailed(f"{error}; fix or remove it, nothing was added") from error
    click.echo(json.dumps(silence.as_json()) if as_json else silence.id)


@alerts_group.command("silences")
@lake_option
@journal_dir_option
@json_option
@click.pass_obj
def silences_command(
    settings: Settings, lake: str | None, journal_dir: Path | None, as_json: bool
) -> None:
    """List the active silences, the one ending first first."""
    from ingest.spreads.monitor.silences import SilencesError

    store = _store(settings, lake, journal_dir)
    try:
        silences = sorted(store.active(), key=lambda silence: silence.ends_at)
    except SilencesError as error:
        raise RunFailed(f"{error}; fix or remove it") from error
    if as_json:
        click.echo(json.dumps([silence.as_json() for silence in silences]))
        return
    if not silences:
        click.echo("no active silences")
        return
    for silence in silences:
        entry = silence.as_json()
        thresholds = ",".join(entry["thresholds"] or ["all thresholds"])
        click.echo(
            f"{silence.id}  {','.join(silence.books)}  {thresholds}  until {entry['ends_at']}"
            f"  {silence.reason}"
        )


@alerts_group.command("unsilence")
@click.argument("silence_id", metavar="ID")
@lake_option
@journal_dir_option
@click.pass_obj
def unsilence_command(
    settings: Settings, silence_id: str, lake: str | None, journal_dir: Path | None
) -> None:
    """Lift the silence ID before it ends."""
    from ingest.spreads.monitor.silences import SilencesError

    store = _store(settings, lake, journal_dir)
    try:
        removed = store.remove(silence_id)
    except SilencesError as error:
        raise RunFailed(f"{error}; fix or remove it, nothing was removed") from error
    if not removed:
        raise RunFailed(f"no active silence {silence_id} in {store.path}")


COMMANDS = (alerts_group,)


@alerts_group.command("export-rules")
@click.argument("rules_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--seed",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the thresholds seed.  [default: <project>/seeds/spread_thresholds.csv]",
)
@project_dir_option("The dbt project whose seed is written.")
@click.pass_obj
def export_rules_command(
    settings: Settings, rules_file: Path, seed: Path | None, project_dir: Path | None
) -> None:
    """Write the dbt thresholds seed from an alert rules file, so that the episode model
    (rpt_spread_alert_episodes) applies the monitor's books, for, clear_for and clear_below."""
    from ingest.spreads.monitor.alert_rules import (
        THRESHOLDS_SEED,
        AlertRulesError,
        load_alert_rules,
        write_rules_seed,
    )

    settings = settings.replace(project_dir=project_dir)
    target = seed or settings.project_dir / THRESHOLDS_SEED
    try:
        # Nothing is sent: receivers' URLs are not needed.
        write_rules_seed(load_alert_rules(rules_file, None), target)
    except AlertRulesError as error:
        raise click.BadParameter(str(error), param_hint="RULES_FILE") from error
    except OSError as error:
        raise RunFailed(f"cannot write {target}: {error.strerror}") from error
    click.echo(str(target))
