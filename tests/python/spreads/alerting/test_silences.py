"""Silences: the file shared by the CLI and a running monitor, written under a lock and
atomically, and read by the monitor only when it changed, looking at most once a second."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.cli import cli
from ingest.settings import Settings
from ingest.spreads.monitor.alert_state import OpenAlerts, OpenEpisode, OpenStale, save
from ingest.spreads.monitor.silences import (
    RECHECK_SECONDS,
    SILENCES_FILE,
    SilenceBook,
    SilencesError,
    SilenceStore,
    new_silence,
    parse_duration,
    silences_path,
)
from tests.python.conftest import BIN_DIR
from tests.python.spreads.monitor.conftest import ManualClock
from tests.python.test_packaging import NOT_AT_START_UP, imported_by

NOW = 1_795_946_400.0


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400)]
)
def test_durations_take_one_unit(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["2", "0h", "-1h", "1.5h", "1h30m", "2w", ""])
def test_other_durations_are_refused(text: str) -> None:
    with pytest.raises(SilencesError, match="is not a positive whole number"):
        parse_duration(text)


def test_the_silences_file_sits_in_the_monitors_journal_folder(tmp_path: Path) -> None:
    settings = Settings(lake=str(tmp_path / "lake"))
    assert silences_path(settings) == tmp_path / "lake" / "spreads" / "_partial" / SILENCES_FILE
    settings = Settings(lake="s3://bucket/prefix", journal_dir=tmp_path / "journal")
    assert silences_path(settings) == tmp_path / "journal" / SILENCES_FILE


def test_a_silence_matches_its_books_and_thresholds_while_active() -> None:
    silence = new_silence(["btc_*", "usd_mxn"], 60, "maintenance", NOW, [Decimal("0.1")])
    assert silence.matches("btc_mxn", Decimal("0.1"))
    assert silence.matches("usd_mxn", Decimal("0.1"))
    assert not silence.matches("btc_mxn", Decimal("1.0"))
    assert not silence.matches("eth_mxn", Decimal("0.1"))
    # An alert without a threshold (a stale feed) is silenced only by an all-thresholds silence.
    assert not silence.matches("btc_mxn", None)
    assert new_silence(["btc_mxn"], 60, "x", NOW).matches("btc_mxn", None)
    assert silence.active(NOW) and silence.active(NOW + 59)
    assert not silence.active(NOW + 60) and not silence.active(NOW - 1)


def test_a_silence_needs_books_and_a_reason() -> None:
    with pytest.raises(SilencesError, match="at least one book"):
        new_silence([], 60, "x", NOW)
    with pytest.raises(SilencesError, match="needs a reason"):
        new_silence(["btc_mxn"], 60, "  ", NOW)


def test_expired_silences_drop_out_of_the_list_and_of_the_file(tmp_path: Path) -> None:
    now = [NOW]
    store = SilenceStore(tmp_path / SILENCES_FILE, clock=lambda: now[0])
    short = new_silence(["btc_mxn"], 60, "short", NOW)
    long = new_silence(["eth_mxn"], 3600, "long", NOW)
    store.add(short)
    store.add(long)
    assert store.active() == (short, long)
    now[0] = NOW + 61
    assert store.active() == (long,)
    store.add(new_silence(["usd_mxn"], 60, "third", now[0]))
    kept = json.loads(store.path.read_text())["silences"]
    assert [entry["reason"] for entry in kept] == ["long", "third"]


def test_concurrent_writers_never_lose_each_others_silences(tmp_path: Path) -> None:
    # Each thread opens the lock file itself, so they contend exactly as processes do.
    store = SilenceStore(tmp_path / SILENCES_FILE)
    writers, each = 6, 15

    def add_many(writer: int) -> None:
        for index in range(each):
            store.add(new_silence([f"book_{writer}_{index}"], 3600, "load", store.clock()))

    threads = [threading.Thread(target=add_many, args=(writer,)) for writer in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.active()) == writers * each
    # No temporary file is left behind.
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        SILENCES_FILE,
        SILENCES_FILE + ".lock",
    ]


@pytest.fixture
def runner(tmp_path: Path, monkeypatch) -> CliRunner:
    monkeypatch.setenv("BITSO_LAKE", str(tmp_path / "lake"))
    monkeypatch.delenv("BITSO_JOURNAL_DIR", raising=False)
    return CliRunner()


def test_cli_round_trip_silence_list_unsilence(runner: CliRunner, tmp_path: Path) -> None:
    added = runner.invoke(
        cli,
        ["alerts", "silence", "--books", "btc_*,usd_mxn", "--duration", "2h", "--reason", "deploy"],
    )
    assert added.exit_code == 0, added.output
    silence_id = added.stdout.strip()
    listed = runner.invoke(cli, ["alerts", "silences", "--json"])
    assert listed.exit_code == 0, listed.output
    (entry,) = json.loads(listed.stdout)
    assert entry["id"] == silence_id
    assert entry["books"] == ["btc_*", "usd_mxn"] and entry["thresholds"] is None
    assert entry["reason"] == "deploy"
    assert _seconds_between(entry["starts_at"], entry["ends_at"]) == 7200
    text = runner.invoke(cli, ["alerts", "silences"]).stdout
    assert text.startswith(f"{silence_id}  btc_*,usd_mxn  all thresholds  until ")
    # The file is where a monitor on this lake looks.
    book = SilenceBook(tmp_path / "lake" / "spreads" / "_partial" / SILENCES_FILE)
    assert book.is_silenced("btc_mxn", Decimal("1.0"), _epoch(entry["starts_at"]) + 60)
    removed = runner.invoke(cli, ["alerts", "unsilence", silence_id])
    assert removed.exit_code == 0, removed.output
    assert runner.invoke(cli, ["alerts", "silences"]).stdout == "no active silences\n"
    again = runner.invoke(cli, ["alerts", "unsilence", silence_id])
    assert again.exit_code == 1
    assert f"error: no active silence {silence_id}" in again.stderr


def test_cli_silence_of_one_threshold_in_another_journal_folder(
    runner: CliRunner, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    added = runner.invoke(
        cli,
        [
            "alerts", "silence", "--books", "btc_mxn", "--threshold", "0.5", "--threshold", "1",
            "--duration", "90s", "--reason", "noisy", "--journal-dir", str(journal), "--json",
        ],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["thresholds"] == ["0.5", "1"]
    assert (journal / SILENCES_FILE).is_file()
    assert runner.invoke(cli, ["alerts", "silences", "--json"]).stdout == "[]\n"


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["--books", "btc_mxn", "--duration", "2 hours", "--reason", "x"], "positive whole"),
        (["--books", ",", "--duration", "2h", "--reason", "x"], "at least one book"),
        (["--books", "btc_mxn", "--duration", "2h", "--reason", ""], "needs a reason"),
        (["--books", "b", "--threshold", "0", "--duration", "2h", "--reason", "x"], "than 0"),
        (["--books", "btc_mxn", "--reason", "x"], "Missing option '--duration'"),
    ],
)
def test_cli_bad_silences_exit_2_with_a_reason(
    runner: CliRunner, arguments: list[str], complaint: str
) -> None:
    result = runner.invoke(cli, ["alerts", "silence", *arguments])
    assert result.exit_code == 2
    assert complaint in result.stderr


def test_cli_a_damaged_file_is_a_clear_error_and_is_left_alone(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "lake" / "spreads" / "_partial" / SILENCES_FILE
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 1, "silences": [{"id": "a"')
    for arguments in (
        ["silences"],
        ["silence", "--books", "btc_mxn", "--duration", "1h", "--reason", "x"],
        ["unsilence", "a"],
    ):
        result = runner.invoke(cli, ["alerts", *arguments])
        assert result.exit_code == 1
        assert f"error: silences file {path} is damaged" in result.stderr
        assert "Traceback" not in result.output
    assert path.read_text() == '{"version": 1, "silences": [{"id": "a"'


def test_cli_concurrent_commands_keep_every_silence(tmp_path: Path) -> None:
    env = {**os.environ, "BITSO_LAKE": str(tmp_path / "lake")}
    env.pop("BITSO_JOURNAL_DIR", None)
    command = [str(BIN_DIR / "ingest"), "alerts", "silence", "--duration", "1h"]
    processes = [
        subprocess.Popen(
            [*command, "--books", f"book_{index}", "--reason", f"r{index}"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for index in range(4)
    ]
    ids = {process.communicate(timeout=60)[0].strip() for process in processes}
    assert all(process.returncode == 0 for process in processes)
    store = SilenceStore(tmp_path / "lake" / "spreads" / "_partial" / SILENCES_FILE)
    assert {silence.id for silence in store.active()} == ids
    assert len(ids) == 4


def test_the_monitors_reader_rereads_only_a_changed_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / SILENCES_FILE
    store = SilenceStore(path)
    clock = ManualClock()
    book = SilenceBook(path, monotonic=clock.monotonic)
    assert not book.is_silenced("btc_mxn", Decimal("1"), NOW)  # no file: nothing silenced
    store.add(new_silence(["btc_*"], 3600, "deploy", store.clock()))
    now = store.clock()
    clock.elapsed += RECHECK_SECONDS
    assert book.is_silenced("btc_mxn", Decimal("1"), now).reason == "deploy"
    assert not book.is_silenced("eth_mxn", Decimal("1"), now)
    assert not book.is_silenced("btc_mxn", Decimal("1"), now + 3600)
    reads = []
    original = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, **kw: reads.append(self) or original(self))
    for _ in range(5):
        book.is_silenced("btc_mxn", Decimal("1"), now)
    assert reads == []
    store.add(new_silence(["eth_mxn"], 3600, "second", store.clock()))
    reads.clear()  # the store's own read
    clock.elapsed += RECHECK_SECONDS
    assert book.is_silenced("eth_mxn", Decimal("1"), now).reason == "second"
    assert book.is_silenced("eth_mxn", Decimal("1"), now)
    assert reads == [path]
    path.unlink()
    clock.elapsed += RECHECK_SECONDS
    assert not book.is_silenced("btc_mxn", Decimal("1"), now)


def test_the_monitors_reader_looks_at_the_file_at_most_once_per_recheck_interval(
    tmp_path: Path, monkeypatch
) -> None:
    path = tmp_path / SILENCES_FILE
    store = SilenceStore(path)
    clock = ManualClock()
    book = SilenceBook(path, monotonic=clock.monotonic)
    now = store.clock()
    assert not book.is_silenced("btc_mxn", Decimal("1"), now)
    stats = []
    original = Path.stat
    monkeypatch.setattr(Path, "stat", lambda self, **kw: stats.append(self) or original(self, **kw))
    store.add(new_silence(["btc_*"], 3600, "deploy", now))
    stats.clear()  # the store's own
    # A burst of alerts within the interval: not one look at the file, the new silence not yet
    # seen.
    clock.elapsed += RECHECK_SECONDS * 0.99
    for _ in range(50):
        assert not book.is_silenced("btc_mxn", Decimal("1"), now)
    assert stats == []
    # At the interval's end, the first alert looks again and is held back by it.
    clock.elapsed = RECHECK_SECONDS
    assert book.is_silenced("btc_mxn", Decimal("1"), now).reason == "deploy"
    assert book.is_silenced("btc_mxn", Decimal("1"), now).reason == "deploy"
    assert stats == [path]


def test_a_damaged_file_is_logged_loudly_and_the_last_good_silences_kept(
    tmp_path: Path, caplog
) -> None:
    path = tmp_path / SILENCES_FILE
    store = SilenceStore(path)
    store.add(new_silence(["btc_mxn"], 3600, "deploy", store.clock()))
    clock = ManualClock()
    book = SilenceBook(path, monotonic=clock.monotonic)
    now = store.clock()
    assert book.is_silenced("btc_mxn", Decimal("1"), now)
    path.write_text("{not json")
    with caplog.at_level(logging.ERROR):
        clock.elapsed += RECHECK_SECONDS
        assert book.is_silenced("btc_mxn", Decimal("1"), now)
        clock.elapsed += RECHECK_SECONDS
        assert book.is_silenced("btc_mxn", Decimal("1"), now)
    (record,) = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert f"silences file {path} is damaged" in record.getMessage()
    assert "by the 1 silences read before" in record.getMessage()
    store_after_fix = SilenceStore(path)
    path.unlink()
    # Started at the instant asked about: a start read from the clock again could fall a second
    # later and leave `now` before the silence.
    store_after_fix.add(new_silence(["eth_mxn"], 3600, "fixed", now))
    clock.elapsed += RECHECK_SECONDS
    assert not book.is_silenced("btc_mxn", Decimal("1"), now)
    assert book.is_silenced("eth_mxn", Decimal("1"), now)


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def _seconds_between(start: str, end: str) -> float:
    return _epoch(end) - _epoch(start)


def test_the_silence_commands_load_no_network_or_plotting_library(tmp_path: Path) -> None:
    env = {**os.environ, "BITSO_LAKE": str(tmp_path / "lake")}
    for arguments in (("alerts", "--help"), ("alerts", "silences", "--json")):
        loaded = imported_by(sys.executable, *arguments, cwd=tmp_path, env=env)
        assert "ingest" in loaded
        assert not loaded & {*NOT_AT_START_UP, "requests", "yaml"}, arguments


def test_cli_status_shows_what_the_monitor_persisted(runner: CliRunner, tmp_path: Path) -> None:
    journal = tmp_path / "lake" / "spreads" / "_partial"
    assert runner.invoke(cli, ["alerts", "status"]).stdout == "no open alerts\n"
    journal.mkdir(parents=True)
    episode = OpenEpisode("btc_mxn", Decimal("1.0"), "2026-11-29T10:00:26+00:00", Decimal("1.3"))
    save(journal, OpenAlerts((episode,), (OpenStale("usd_mxn", int(NOW)),)))
    result = runner.invoke(cli, ["alerts", "status"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "btc_mxn  above 1.0 %  since 2026-11-29T10:00:26+00:00  peak 1.3 %",
        "usd_mxn  no usable quote since 2026-11-29T10:00:00+00:00",
    ]
    as_json = json.loads(runner.invoke(cli, ["alerts", "status", "--json"]).stdout)
    assert as_json["episodes"][0]["book"] == "btc_mxn"
    assert as_json["stale"] == [{"book": "usd_mxn", "since": int(NOW)}]
    (journal / "open_alerts.json").write_text("[")
    damaged = runner.invoke(cli, ["alerts", "status"])
    assert damaged.exit_code == 1
    assert "error: " in damaged.stderr and "open_alerts.json: not JSON" in damaged.stderr
